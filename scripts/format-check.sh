#!/usr/bin/env bash
# Check that the C lines changed since BASE are formatted as .clang-format
# says (nagare's pgindent-like style), ignoring how much white space
# separates tokens (clang-format cannot reproduce pgindent's declaration
# columns, so "int32\t\tx;" and "int32 x;" are both accepted).
#
#   scripts/format-check.sh [BASE]
#
# Generated code (src/kafka/api_*.c, messages.h) is not checked.
# BASE defaults to the last commit that changed .clang-format: code written
# since the house style was adopted follows it; older lines are left as they
# are until they change.  Uncommitted changes count.  To fix what it reports:
#   git clang-format-14 --extensions c,h BASE
# Prints "format: N passed, M failed" (files) and exits non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."

cf=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$cf" ]; then
  echo "format: clang-format is not installed (scripts/deps.sh installs clang-format-14)"
  echo "format: 0 passed, 1 failed"
  exit 1
fi
base=${1:-$(git log -n1 --format=%H -- .clang-format)}
if [ -z "$base" ]; then
  echo "format: no commit has .clang-format yet; nothing to check"
  echo "format: 0 passed, 0 failed"
  exit 0
fi

passed=0
failed=0
for f in $(git diff --name-only --diff-filter=AMR "$base" -- 'src/*.c' 'src/*.h' | grep -v '^src/kafka/\(api_\|messages\.h\)'); do
  [ -f "$f" ] || continue
  # the line ranges this file's change added or replaced
  ranges=$(git diff -U0 "$base" -- "$f" |
           sed -n 's/^@@ -[0-9,]* +\([0-9]*\)\(,\([0-9]*\)\)\{0,1\} @@.*/\1 \3/p' |
           awk '{n = ($2 == "") ? 1 : $2; if (n > 0) printf "--lines=%d:%d ", $1, $1 + n - 1}')
  [ -n "$ranges" ] || continue
  # shellcheck disable=SC2086
  if out=$("$cf" --style=file $ranges "$f" | diff -b "$f" -); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "format: $f differs from .clang-format in lines it changed:"
    echo "$out" | head -40
  fi
done
echo "format: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
