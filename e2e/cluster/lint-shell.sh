#!/usr/bin/env bash
# The shell half of `make lint`:
#   1. shellcheck on every script (following the libraries each one sources);
#   2. pipes that can kill a script that runs under `set -o pipefail`.
#
# Why 2: a reader that stops before its input ends (`head`, `grep -q`/`-m`/`-l`, `sed …q`,
# `awk '… exit'`, `read`) closes the pipe while the writer may still be writing; the writer then
# dies of SIGPIPE (status 141), and with pipefail that fails the whole pipeline although the reader
# got what it wanted. Whether the writer was still writing is a race (how much it prints, in how
# many writes, how busy the machine is), so such a line passes most runs and fails some:
# `runsc --version | head -1` under `set -e` killed a build that way. Write it without the race:
#   out=$(cmd); head -n1 <<<"$out"          # capture first (or a here-string into the reader)
#   grep -q pattern <<<"$out"               # instead of   printf '%s' "$out" | grep -q pattern
#   cmd | grep -c pattern >/dev/null        # a reader that reads to the end (grep -c, awk without exit)
#   find … -print -quit                      # instead of   find … | head -1
# `sed -n 2p` and `awk 'NR == 2'` read to the end and are fine; so is `awk '… END { exit 1 }'`.
# Pipes inside a quoted string are not looked at (`sh -c '… | grep -q …'` runs in a shell without
# pipefail), except the string of an `eval` or a `trap`, which run in this shell.
#
# Opt-out, for the rare pipe whose writer cannot lose the race (e.g. printf of a short variable:
# one write that fits the pipe buffer, done before the reader can read it): end a line of the
# pipeline with the comment  `# sigpipe-safe: <why>`  (the reason is required).
# A script is checked when it sets pipefail, sources another file (lib/common.sh sets it), or has
# no #! line (a library, sourced by scripts that set it).
#
# Usage: lint-shell.sh [--pipes-only] [file...]   (default: every shell script git tracks)
# Exit:  0 clean; 1 with one line per finding ("file:line: ...").
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PIPES_ONLY=0
if [ "${1:-}" = --pipes-only ]; then PIPES_ONLY=1; shift; fi

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  # *.sh, and files whose first line is a bash or sh #! line (e.g. .ci/run); paths relative to the repo
  cd "$REPO"
  while IFS= read -r -d '' f; do
    [ -f "$f" ] || continue
    case $f in
      *.sh) files+=("$f") ;;
      *)
        IFS= read -r first <"$f" || true
        case $first in '#!'*/bash* | '#!'*/sh | '#!'*'env bash'* | '#!'*'env sh') files+=("$f") ;; esac
        ;;
    esac
  done < <(git ls-files -z)
fi
[ ${#files[@]} -gt 0 ] || { echo "lint-shell: no shell scripts found" >&2; exit 1; }

status=0

# --- 1. shellcheck -------------------------------------------------------------------------------
if [ "$PIPES_ONLY" = 0 ]; then
  if ! command -v shellcheck >/dev/null; then
    echo "lint-shell: shellcheck is missing: make test-deps (or apt-get install shellcheck)" >&2
    exit 1
  fi
  # -x -P SCRIPTDIR: follow `. "$(dirname "$0")/lib/common.sh"` and the like from the script's dir.
  shellcheck --external-sources --source-path=SCRIPTDIR --severity=style --format=gcc "${files[@]}" || status=1
fi

# --- 2. SIGPIPE-prone pipes under pipefail ------------------------------------------------------
uses_pipefail() {
  local f=$1 first=""
  grep -Eq '^[[:space:]]*set[[:space:]]+(-[[:alpha:]]*o[[:space:]]+pipefail|-o[[:space:]]+pipefail)' "$f" && return 0
  grep -Eq '^[[:space:]]*(\.|source)[[:space:]]+[^[:space:]]' "$f" && return 0
  IFS= read -r first <"$f" || true
  case $first in '#!'*) return 1 ;; *) return 0 ;; esac
}

# The scanner: joins a statement's lines (a line ending in | or \, or inside an open quote, goes on),
# skips here-document bodies and comments, and finds the pipes outside quotes (inside `$(…)` too,
# also within double quotes; inside the quoted argument of eval/trap too). For each pipe it looks at
# the command that reads from it.
# shellcheck disable=SC2016 # awk program: $ is awk's
SCAN='
function top() { return st[sp] }
function push(m) { st[++sp] = m }
function pop() { if (sp > 1) sp-- }
# mask: the statement with every character that is not shell code (quoted text) replaced by "_",
# except that inside quotes only the characters that matter here are masked (| ; & ( ) #), so the
# reader command keeps its quoted program (sed and awk scripts) for the checks below.
function scanline(line,    i, c, n, prev, word) {
  n = length(line)
  for (i = 1; i <= n; i++) {
    c = substr(line, i, 1)
    m = top()
    if (m == "S") {
      if (c == "\047") { pop(); mask = mask c } else mask = mask (c ~ /[|;&()#]/ ? "_" : c)
      continue
    }
    if (m == "D") {
      if (c == "\\") { mask = mask c substr(line, i + 1, 1); i++; continue }
      if (c == "\"") { pop(); mask = mask c; continue }
      if (c == "$" && substr(line, i + 1, 1) == "(") { push("P"); mask = mask "$("; i++; continue }
      mask = mask (c ~ /[|;&()#]/ ? "_" : c)
      continue
    }
    # code: C (top level), P (inside $( or ( ), E (the quoted argument of eval/trap)
    if (c == "\\") { mask = mask c substr(line, i + 1, 1); i++; continue }
    if (m == "E" && c == equote[sp]) { pop(); mask = mask " "; continue }
    if (c == "\047" || c == "\"") {
      word = mask; sub(/[ \t]+$/, "", word)
      if (word ~ /(^|[^A-Za-z0-9_-])(eval|trap)$/) { push("E"); equote[sp] = c; mask = mask " "; continue }
      push(c == "\047" ? "S" : "D"); mask = mask c; continue
    }
    if (c == "#" && (i == 1 || substr(line, i - 1, 1) ~ /[ \t;(|&]/)) break
    if (c == "(") { push("P"); mask = mask c; continue }
    if (c == ")") { if (m == "P") pop(); mask = mask c; continue }
    mask = mask c
  }
}
function report(lineno, what) {
  f = FILENAME; if (index(f, root) == 1) f = substr(f, length(root) + 1)
  printf "%s:%d: `%s` can stop reading before the writer is done: under pipefail the writer'"'"'s SIGPIPE (141) fails the pipeline; capture the output first, use a here-string or a reader that reads to the end (opt-out: # sigpipe-safe: <why>)\n", f, lineno, what
  found = 1
}
function check(    i, n, c, seg, j, k, rest, cmd, toks, nt, t, early, prog) {
  if (optout) return
  n = length(mask)
  for (i = 1; i <= n; i++) {
    c = substr(mask, i, 1)
    if (c != "|") continue
    if (substr(mask, i + 1, 1) == "|") { i++; continue }
    if (i > 1 && substr(mask, i - 1, 1) == ">") continue   # >| (clobber)
    # the reader: up to the next separator outside quotes
    rest = substr(mask, i + 1)
    if (substr(rest, 1, 1) == "&") rest = substr(rest, 2)
    k = match(rest, /[|;&)]/)
    seg = k ? substr(rest, 1, k - 1) : rest
    # the raw text of that reader (quotes and all): same offsets as the mask
    raw = substr(stmt, i + 1 + (substr(mask, i + 1, 1) == "&"), length(seg))
    sub(/^[ \t]+/, "", raw)
    while (raw ~ /^[A-Za-z_][A-Za-z0-9_]*=[^ \t]*[ \t]+/) sub(/^[A-Za-z_][A-Za-z0-9_]*=[^ \t]*[ \t]+/, "", raw)
    nt = split(raw, toks, /[ \t]+/)
    cmd = toks[1]; sub(/^.*\//, "", cmd)
    early = ""
    if (cmd == "head") early = "| head"
    else if (cmd == "read") early = "| read"
    else if (cmd ~ /^[efz]?grep$/) {
      for (t = 2; t <= nt; t++) {
        if (toks[t] == "--" || toks[t] !~ /^-/) break
        if (toks[t] ~ /^--(quiet|silent|max-count|files-with-matches|files-without-match)/ || toks[t] ~ /^-[A-Za-z0-9]*[qmlL]/) { early = "| " cmd " " toks[t]; break }
        if (toks[t] == "-e" || toks[t] == "-f") break
      }
    } else if (cmd == "sed") {
      prog = substr(raw, 4)
      if (prog ~ /(^|[^A-Za-z\\])[0-9$]*[qQ]([;} \t\047"]|$)/) early = "| sed …q"
    } else if (cmd ~ /^[gm]?awk$/) {
      prog = substr(raw, length(toks[1]) + 1)
      gsub(/END[ \t]*\{[^}]*\}/, "", prog)
      if (prog ~ /(^|[^A-Za-z0-9_])exit([^A-Za-z0-9_]|$)/) early = "| " cmd " … exit"
    }
    if (early != "") report(startline, early)
  }
}
function endstmt() { check(); stmt = ""; mask = ""; optout = 0; sp = 1; st[1] = "C" }
BEGIN { sp = 1; st[1] = "C"; heredoc = ""; found = 0 }
FNR == 1 { stmt = ""; mask = ""; optout = 0; sp = 1; st[1] = "C"; heredoc = "" }
{
  line = $0
  if (heredoc != "") {
    t = line
    if (hdtabs) sub(/^\t+/, "", t)
    if (t == heredoc) heredoc = ""
    next
  }
  if (stmt == "") startline = FNR
  if (line ~ /#[ \t]*sigpipe-safe:[ \t]*[^ \t]/) optout = 1
  before = length(mask)
  if (stmt != "") { stmt = stmt " "; mask = mask " " }
  stmt = stmt line
  scanline(line)
  # keep stmt and mask the same length (a comment cut from the mask is cut from stmt too)
  stmt = substr(stmt, 1, length(mask))
  # a here-document starts on this line (not <<<): its body is not code
  code = substr(mask, before + 1)
  if (match(code, /<<-?[ \t]*["\047]?[A-Za-z_][A-Za-z0-9_]*/) && substr(code, RSTART, 3) != "<<<") {
    hd = substr(code, RSTART, RLENGTH)
    hdtabs = (substr(hd, 3, 1) == "-")
    sub(/^<<-?[ \t]*["\047]?/, "", hd)
    heredoc = hd
  }
  if (top() == "C") {
    t = mask; sub(/[ \t]+$/, "", t)
    if (t ~ /(\||\\|&&)$/) { if (t ~ /\\$/) { mask = substr(mask, 1, length(mask) - 1) " "; stmt = substr(stmt, 1, length(stmt) - 1) " " } ; next }
    endstmt()
  }
}
END { if (stmt != "") endstmt(); exit found }
'

for f in "${files[@]}"; do
  uses_pipefail "$f" || continue
  awk -v root="$REPO/" "$SCAN" "$f" || status=1
done
exit "$status"
