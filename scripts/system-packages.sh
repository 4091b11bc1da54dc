#!/usr/bin/env bash
# The Debian packages the factory uses beyond Python and Node: bubblewrap (the sandbox the release gate
# runs generated tests in) and, with --browser, chromium (Studio's browser tests, driven by Playwright).
# Installs what is missing when apt-get can run (root, or sudo without a password); otherwise says what
# to install and leaves the decision to you: without bubblewrap the release gate refuses to run generated
# tests (or set FACTORY_ALLOW_UNSAFE_SANDBOX=true for trusted code), without chromium the browser tests skip.
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
if [ "${1:-}" = "--browser" ]; then
  command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
fi
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else sudo="none"; fi
fi
if command -v apt-get >/dev/null 2>&1 && [ "$sudo" != "none" ]; then
  echo "installing ${missing[*]} (Debian packages)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
else
  echo "note: ${missing[*]} not installed and cannot be installed here (needs apt-get as root or sudo):" >&2
  echo "      sudo apt-get install -y ${missing[*]}   (or your system's package manager)" >&2
fi
