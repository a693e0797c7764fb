#!/usr/bin/env bash
# Rebuilds jssip.min.js: JsSIP and its dependencies, pinned, from the npm registry, bundled by
# esbuild into one file that sets window.JsSIP (no CDN, no eval: the portal's CSP holds).
# Not part of install or tests: the result is committed, like htmx.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm init -y >/dev/null
npm install --save-exact --no-audit --no-fund \
    jssip@3.13.8 debug@4.4.3 ms@2.1.3 events@3.3.0 sdp-transform@2.15.0 esbuild@0.24.0 >/dev/null
echo 'import JsSIP from "jssip"; window.JsSIP = JsSIP;' > entry.js
npx esbuild entry.js --bundle --minify --format=iife --target=es2019 \
    --legal-comments=eof --outfile="$here/jssip.min.js"
