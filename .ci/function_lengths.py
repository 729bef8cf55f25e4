"""The longest functions (free functions and class members) in the C++ sources under a folder, by lines
from the line where the signature starts to the closing brace. Comments, strings and preprocessor lines
are blanked first; lambdas count within the function that holds them.

Usage: python3 .ci/function_lengths.py harness [N]   (prints the N longest, 8 by default)"""
import re, sys, glob

def strip(src):
    out=[]; i=0; n=len(src)
    while i<n:
        c=src[i]
        if src.startswith('//',i):
            j=src.find('\n',i); j=n if j<0 else j; out.append(' '*(j-i)); i=j
        elif src.startswith('/*',i):
            j=src.find('*/',i+2); j=n if j<0 else j+2; out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif src.startswith('R"',i):
            m=re.match(r'R"([^(]*)\(',src[i:]); d=m.group(1); j=src.find(')'+d+'"',i)+len(d)+2
            out.append(re.sub(r'[^\n]',' ',src[i:j])); i=j
        elif c in '"\'':
            j=i+1
            while j<n and src[j]!=c:
                j+= 2 if src[j]=='\\' else 1
            out.append(c+re.sub(r'[^\n]',' ',src[i+1:j])+c); i=j+1
        else:
            out.append(c); i+=1
    return ''.join(out)

res=[]
for path in sorted(glob.glob(sys.argv[1]+'/**/*.cpp', recursive=True)+glob.glob(sys.argv[1]+'/**/*.h', recursive=True)):
    s=strip(re.sub(r'(?m)^\s*#.*$', lambda m: ' '*len(m.group(0)), open(path).read()))
    stack=[]  # (kind, start_line, name)
    buf=''; buf_start=None; line=1
    for c in s:
        if c=='\n': line+=1
        if c=='{':
            b=buf.strip(); outer=all(k in ('ns','class') for k,_,_ in stack)
            if re.match(r'^(namespace|extern)\b',b) or b=='' and False:
                kind='ns'
            elif re.match(r'^(template\s*<.*>\s*)?(class|struct|union|enum)\b',b,re.S) and '(' not in b.split(':')[0]:
                kind='class'
            elif outer and '(' in b and ')' in b and not re.match(r'^(if|for|while|switch|catch|else|do|return)\b',b):
                kind='fn'
            else:
                kind='blk'
            stack.append((kind, buf_start or line, re.sub(r'\s+',' ',b)[:80]))
            buf=''; buf_start=None
        elif c=='}':
            if stack:
                kind,start,name=stack.pop()
                if kind=='fn': res.append((line-start+1,path,start,name))
            buf=''; buf_start=None
        elif c==';':
            buf=''; buf_start=None
        else:
            if not c.isspace() and buf_start is None: buf_start=line
            buf+=c
            # access specifiers reset the buffer
            if re.search(r'\b(public|private|protected)\s*:$',buf): buf=''; buf_start=None
res.sort(reverse=True)
for r in res[:int(sys.argv[2]) if len(sys.argv)>2 else 8]: print('%4d  %s:%d  %s'%r)
