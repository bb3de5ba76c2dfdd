#!/bin/sh
# Builds the cbigram example plugin (bigram.c) into a shared library that zood can load.
#   Plugins/Examples/CBigram/build.sh OUTPUT.so
# Works from any directory. Needs a C11 compiler and Debian's libprotobuf-c-dev.
# CC overrides the compiler (default cc). The tests call this with a temporary path.
set -eu
if [ "$#" -ne 1 ]; then
  echo "usage: $0 OUTPUT.so" >&2
  exit 2
fi
out=$1
mkdir -p "$(dirname "$out")"
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
# -fvisibility=hidden: export only zoo_plugin_init, not the protobuf-c generated code.
# -Wl,-z,defs: fail at link time, not at dlopen, if a symbol is unresolved.
exec "${CC:-cc}" -std=c11 -O2 -Wall -Wextra -shared -fPIC -fvisibility=hidden -Wl,-z,defs \
  -I "$root/Sources/CZooPlugin/include" -I "$here" \
  "$here/bigram.c" "$here/zoo/v1/plugin.pb-c.c" "$here/zoo/v1/zoo.pb-c.c" \
  -lprotobuf-c -lm -o "$out"
