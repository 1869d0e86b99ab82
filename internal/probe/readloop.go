package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

func init() { moreOps["readloop"] = readLoop }

// readLoop reads the file args[0] args[1] times in each of args[2] goroutines, each
// read a fresh open, and checks every copy is whole: not empty, ending in a newline,
// and with as many lines as the first copy. It returns "ok" or what was wrong.
func readLoop(args []string) string {
	path := arg(args, 0)
	n, _ := strconv.Atoi(arg(args, 1))
	workers, _ := strconv.Atoi(arg(args, 2))
	first, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Count(string(first), "\n")
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		bad string
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i++ {
				b, err := os.ReadFile(path)
				var why string
				switch {
				case err != nil:
					why = err.Error()
				case len(b) == 0:
					why = "empty"
				case b[len(b)-1] != '\n':
					why = "no final newline"
				case strings.Count(string(b), "\n") != lines:
					why = fmt.Sprintf("%d lines, want %d", strings.Count(string(b), "\n"), lines)
				}
				if why != "" {
					mu.Lock()
					bad = fmt.Sprintf("read %d: %s: %q", i, why, b)
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if bad != "" {
		return bad
	}
	return "ok"
}
