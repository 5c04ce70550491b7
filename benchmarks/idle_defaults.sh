#!/bin/bash
# Idle-machine timings of the CPU defaults (issue 22): run when nothing else runs; ROOT holds the collections
# of benchmarks/build_collections.py (default /work/data), OUT the sessions (default /tmp/dcgui_idle).
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export PYTHONPATH=$PWD QT_QPA_PLATFORM=offscreen
rm -rf ${OUT:-/tmp/dcgui_idle}; mkdir -p ${OUT:-/tmp/dcgui_idle}
echo "load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
# 1. the new defaults, plain dcgui train (threads automatic), 3 epochs on icons and clip art
for c in icons clipart; do
  /usr/bin/time -f "$c wall %e s" $PY -m dcgui train ${ROOT:-/work/data}/$c --session ${OUT:-/tmp/dcgui_idle}/$c.dcgui --epochs 3 --no-progress 2>&1 | grep -E "epoch|wall|images|threads"
done
# 2. the same, one other busy process: threads 0 (measured) against 2 and 1
yes > /dev/null & Y=$!
for t in 2 1 0; do
  /usr/bin/time -f "busy threads=$t wall %e s" $PY -m dcgui train ${ROOT:-/work/data}/icons --session ${OUT:-/tmp/dcgui_idle}/busy$t.dcgui --epochs 2 --threads $t --no-progress 2>&1 | grep -E "^epoch|wall|threads"
done
kill $Y
echo "load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
# 3. channels-last against NCHW, float32, one training step (alternating)
for t in 1 2; do echo "threads $t"; $PY benchmarks/bench_layout.py $t; done
echo "load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
# 4. expected time (New-session dialog / demo question) against the real run, new defaults
$PY benchmarks/bench_estimate.py --only photos-200-defaults demo-quick --no-publish
echo "load $(cut -d' ' -f1 /proc/loadavg) $(date +%T)"
