# Sourced by the tools that compare a git revision with the working tree (compare_bits.sh, compare_speed.sh,
# count_instructions.sh).

# Goes to the repository's root and sets root (its path), jobs and work ($root/build/$1, created).
start_in_repository() {
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  root=$(pwd)
  jobs=${VARNORM_JOBS:-$(nproc)}
  work="$root/build/$1"
  mkdir -p "$work"
}

# A detached worktree of revision $1 at $work/base-src, removed when the script exits.
checkout_revision() {
  rm -rf "$work/base-src"
  git worktree prune
  git worktree add --detach "$work/base-src" "$1" >/dev/null 2>&1
  trap 'git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true' EXIT
}

# Configures source tree $1 in build folder $2: Release, no tests, examples or install, and options $3...
configure_release() {
  local src=$1 dir=$2
  shift 2
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVARNORM_BUILD_TESTS=OFF \
    -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
}

# The library from source tree $1 in build folder $2 (configure_release), and the program tools/$3.cpp linked
# against it as $2/$3.
build_tool() {
  local src=$1 dir=$2 tool=$3
  configure_release "$src" "$dir"
  cmake --build "$dir" -j "$jobs" --target varnorm >/dev/null
  local tbb=()
  grep -q "VARNORM_WITH_TBB:BOOL=ON" "$dir/CMakeCache.txt" && tbb=(-ltbb)
  c++ -std=c++17 -O2 -I"$src/include" "$root/tools/$tool.cpp" "$dir/src/libvarnorm.a" "${tbb[@]}" -o "$dir/$tool"
}
