package main

import (
	"fmt"
	"strconv"
)

func itoa(n int) string { return strconv.Itoa(n) }

// fmtSscan parses "started N ERRNO" as the probe's spawn prints it.
func fmtSscan(s string, n *int, why *string) (int, error) {
	return fmt.Sscanf(s, "started %d %s", n, why)
}
