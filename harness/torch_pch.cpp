// Translation unit that owns the torch precompiled header; it defines nothing.
#include "harness/torch_pch.h"
