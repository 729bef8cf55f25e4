# Sourced by .ci/gpu-deps and .ci/torch2-check. private_apt_download SUITE DEST PKG...: downloads the .deb
# files of PKG from Debian's SUITE into DEST with an apt configuration of its own (sources file, package
# lists and archive cache under DEST/.apt), so the system's sources, lists and installed packages are
# never touched and nothing is installed. Packages already in DEST are not fetched again. APT_COMPONENTS
# (default "main") names the archive's components, e.g. "main contrib" for libtorch-cuda-dev.
private_apt_download() {
  local suite=$1 dest=$2
  shift 2
  mkdir -p "$dest/.apt/lists/partial" "$dest/.apt/cache/archives/partial"
  dest=$(cd "$dest" && pwd)
  local missing=()
  for p in "$@"; do
    compgen -G "$dest/${p}_*.deb" >/dev/null || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite ${APT_COMPONENTS:-main}" \
    >"$dest/.apt/sources.list"
  : >"$dest/.apt/status"
  local opts=(-o "Dir::Etc::SourceList=$dest/.apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dest/.apt/lists" -o "Dir::Cache=$dest/.apt/cache" -o "Dir::State::status=$dest/.apt/status"
    -o APT::Architecture=amd64 -o APT::Sandbox::User=root -qq)
  apt-get "${opts[@]}" update
  (cd "$dest" && apt-get "${opts[@]}" download "${missing[@]}")
}

# extract_debs DEST DEB...: unpacks each package's files under DEST (dpkg-deb where present, else ar + tar).
extract_debs() {
  local dest=$1
  shift
  mkdir -p "$dest"
  for deb in "$@"; do
    if command -v dpkg-deb >/dev/null; then
      dpkg-deb -x "$deb" "$dest"
    else
      local member
      member=$(ar t "$deb" | grep '^data\.tar')
      ar p "$deb" "$member" | tar -x -C "$dest" -f - --auto-compress 2>/dev/null ||
        ar p "$deb" "$member" | tar -x -C "$dest" -J -f -
    fi
  done
}
