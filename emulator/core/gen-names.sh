#!/usr/bin/env bash
# Regenerates src/names_table.rs from the cryptoki-sys bindings in the cargo registry.
# Run after bumping cryptoki-sys; the output is committed so normal builds need nothing.
set -euo pipefail
cd "$(dirname "$0")"
ver=$(grep -A1 'name = "cryptoki-sys"' ../../Cargo.lock | grep -oP '(?<=version = ")[^"]+')
B=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cryptoki-sys-"$ver" | head -1)/src/bindings/x86_64-unknown-linux-gnu.rs
{
echo '//! Spec names for PKCS#11 constants, generated from the `cryptoki-sys` 0.5 bindings'
echo '//! (regenerate with `emulator/core/gen-names.sh`). Aliases come after the preferred'
echo '//! name, so value → name returns the first (spec-preferred) spelling.'
echo '//!'
echo '//! Fixtures, profiles, scenarios and logs use these names instead of bare numbers.'
echo
echo 'use crate::ck::*;'
echo
for p in CKA CKM CKK CKO CKR CKU CKC; do
  echo "/// \`(name, value)\` for every \`${p}_*\` constant, in the bindings' order."
  echo "pub(crate) static ${p}_TABLE: &[(&str, CK_ULONG)] = &["
  grep -oP "pub const ${p}_\w+(?=: )" "$B" | sed 's/pub const //' \
    | grep -v '_VENDOR_DEFINED$\|^CKA_SUB_PRIME_BITS\|^CKA_SUBPRIME_BITS' \
    | awk '{printf "    (\"%s\", %s as CK_ULONG),\n", $1, $1}'
  echo "];"
  echo
done
} > src/names_table.rs
