module sluice.dev/loadgen

go 1.19
