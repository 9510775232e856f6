#!/usr/bin/env bash
# The duplicates page of `lookalike serve` with 10,000 groups, in headless Chromium: the
# time from navigation to the first page of groups drawn (target: under 1 s), and the frame
# intervals while the list scrolls by 400 px a frame for 240 frames (smooth: about one
# display frame, 16.7 ms, each), then the rows the page keeps in the DOM.
#
#   bench/serve-page.sh
#
# Runs the browser test that measures it (tests/web.rs, ten_thousand_groups_...) and prints
# its figures (the test profile: the page's time is the browser's; the server's part, one
# request for 100 groups, is the same order in a release build). Needs Chromium (chromium, chromium-browser or google-chrome on
# the PATH); nothing is fetched from the internet.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --test web ten_thousand_groups_open_fast_and_scroll_smoothly -- \
    --nocapture 2>&1 | grep -E "^(built|groups ready|10,000 groups|chromium not installed)|test result"
