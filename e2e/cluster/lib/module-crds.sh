# shellcheck shell=bash
# CustomResourceDefinitions of other projects, for the manifests' server-side dry-run: copied out
# of a Go module (the module proxy serves the project's source, CRD YAML included) into the cache,
# once per version. Source it after lib/common.sh; needs Go.

# module_crds <module> <version> <subdir> <out> <file>...: copies every CustomResourceDefinition in
# <subdir> of <module>@<version> into <out>/crds and prints that directory on stdout; each <file>
# must be among them. Other YAML there (policies, kustomizations) is left out. The copy is made in
# a temp dir, checked, stamped and then renamed into place, so an interrupted copy is redone
# instead of leaving half the CRDs; a finished copy is reused.
module_crds() {
  local module=$1 version=$2 subdir=$3 out=$4 json src f
  shift 4
  if [ -f "$out/.built" ]; then
    local complete=1
    for f in "$@"; do [ -f "$out/crds/$f" ] || complete=0; done
    if [ "$complete" = 1 ]; then
      log "$module $version: cached"
      echo "$out/crds"
      return 0
    fi
  fi
  command -v go >/dev/null || die "Go is required (https://go.dev/dl); the CRDs come from the module $module"
  go_env
  log "$module $version: downloading from the module proxy"
  # `go mod download -json` prints a JSON object with "Dir" (the extracted module) or "Error".
  json=$(go mod download -json "$module@$version" 2>&1) || true
  src=$(sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p' <<<"$json")
  [ -d "${src:-/nonexistent}/$subdir" ] || die "could not download $module@$version: $json"

  MODULE_CRDS_TMP="$out.tmp.$$"
  rm -rf "$MODULE_CRDS_TMP"
  mkdir -p "$MODULE_CRDS_TMP/crds"
  trap 'rm -rf "$MODULE_CRDS_TMP"' EXIT
  for f in "$src/$subdir"/*.yaml; do
    grep -q '^kind: CustomResourceDefinition$' "$f" && cp "$f" "$MODULE_CRDS_TMP/crds/"
  done
  chmod -R u+w "$MODULE_CRDS_TMP"
  for f in "$@"; do
    [ -f "$MODULE_CRDS_TMP/crds/$f" ] || die "$module@$version has no CRD $subdir/$f"
  done
  printf '%s\n' "$version" >"$MODULE_CRDS_TMP/VERSION"
  touch "$MODULE_CRDS_TMP/.built"
  rm -rf "$out"
  mv -T "$MODULE_CRDS_TMP" "$out"
  log "$module: $(find "$out/crds" -name '*.yaml' | wc -l) CRDs in $out/crds"
  echo "$out/crds"
}
