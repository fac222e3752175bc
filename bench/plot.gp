# Throughput of 4 KiB random reads against queue depth (one connection)
# and against connections (one request in flight each), for ninepd, diod
# and pread threads on the host.  scripts/bench.sh writes the data files:
#   columns: x  ninepd_ops/s  diod_ops/s  direct_ops/s   ("nan" where a run failed)
# and calls:  gnuplot -e "depth='D'; conns='C'; out='PNG'" bench/plot.gp
set terminal pngcairo size 1200,480 font ",10"
set output out
set datafile missing "nan"
set multiplot layout 1,2 title "ninepd-loadgen: 4 KiB random reads from the page cache (median ops/s; 2-core VM, shared)"
set logscale x 2
set logscale y 10
set grid
set key top left
set ylabel "operations / s"
set format y "%.0s%c"

set xlabel "queue depth (1 connection)"
plot depth using 1:2 with linespoints lw 2 title "ninepd", \
     depth using 1:3 with linespoints lw 2 title "diod", \
     depth using 1:4 with linespoints lw 1 dt 2 title "pread threads (limit)"

set xlabel "connections (1 request in flight each)"
plot conns using 1:2 with linespoints lw 2 title "ninepd", \
     conns using 1:3 with linespoints lw 2 title "diod", \
     conns using 1:4 with linespoints lw 1 dt 2 title "pread threads (limit)"
unset multiplot
