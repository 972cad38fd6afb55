module sluice.dev/deployapp

go 1.19
