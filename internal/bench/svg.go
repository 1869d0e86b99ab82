package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// A series is one kind of bar in the chart.
type series struct {
	name, color string
	value       func(peer string, pl payload) (float64, bool)
}

// chart draws the median wall and CPU time of each peer as horizontal bars, one panel
// per payload: SVG written by hand, so that the bench needs no plotting library and no
// network, and the file can be opened in any browser.
func (b *bench) chart() string {
	median := func(st *startup, cpu bool) func(string, payload) (float64, bool) {
		return func(peer string, pl payload) (float64, bool) { return medianMs(st.find(peer, pl), cpu) }
	}
	var ss []series
	if st := b.res.startup[0]; st != nil {
		ss = append(ss, series{"wall, back to back", "#3b6ea8", median(st, false)},
			series{"CPU, back to back", "#e39b3b", median(st, true)})
	}
	if st := b.res.startup[1]; st != nil {
		ss = append(ss, series{"wall, " + mode(st), "#7aa6d6", median(st, false)})
	}
	pays := b.payloads()

	const (
		width, left, right = 900.0, 240.0, 70.0
		barH, gap, top     = 13.0, 12.0, 70.0
	)
	var peers []string
	for _, p := range b.peers {
		peers = append(peers, p.name)
	}
	// One scale for every panel, so that panels compare.
	var most float64
	for _, pl := range pays {
		for _, p := range peers {
			for _, s := range ss {
				if v, ok := s.value(p, pl); ok {
					most = math.Max(most, v)
				}
			}
		}
	}
	if most == 0 {
		most = 1
	}
	scale := (width - left - right) / most
	group := float64(len(ss))*barH + gap
	panel := 30 + float64(len(peers))*group
	height := top + float64(len(pays))*panel + 30

	var w strings.Builder
	fmt.Fprintf(&w, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&w, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&w, `<text x="10" y="22" font-size="16" font-weight="bold">Container start to exit, median (ms)</text>`+"\n")
	fmt.Fprintf(&w, `<text x="10" y="40" fill="#555">%s</text>`+"\n", esc(b.machineLine()))
	x := 10.0
	for _, s := range ss {
		fmt.Fprintf(&w, `<rect x="%.0f" y="50" width="12" height="12" fill="%s"/><text x="%.0f" y="60">%s</text>`+"\n", x, s.color, x+16, esc(s.name))
		x += 30 + 7*float64(len(s.name))
	}
	y := top
	for _, pl := range pays {
		fmt.Fprintf(&w, `<text x="10" y="%.0f" font-weight="bold">%s</text>`+"\n", y+14, esc(strings.Join(pl.args, " ")))
		y += 24
		for _, p := range peers {
			fmt.Fprintf(&w, `<text x="%.0f" y="%.0f" text-anchor="end">%s</text>`+"\n", left-8, y+group/2, esc(p))
			for i, s := range ss {
				by := y + float64(i)*barH
				v, ok := s.value(p, pl)
				if !ok {
					if i == 0 {
						fmt.Fprintf(&w, `<text x="%.0f" y="%.0f" fill="#a00">not measured</text>`+"\n", left+4, by+barH-2)
					}
					continue
				}
				fmt.Fprintf(&w, `<rect x="%.0f" y="%.1f" width="%.1f" height="%.0f" fill="%s"/>`+"\n", left, by, math.Max(1, v*scale), barH-2, s.color)
				fmt.Fprintf(&w, `<text x="%.1f" y="%.1f" font-size="10">%.2f</text>`+"\n", left+math.Max(1, v*scale)+4, by+barH-3, v)
			}
			y += group
		}
		y += 6
	}
	fmt.Fprintf(&w, `<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="#888"/>`+"\n", left, top, left, y)
	fmt.Fprintf(&w, "</svg>\n")
	return w.String()
}

// machineLine is the chart's subtitle: CPU, kernel and date.
func (b *bench) machineLine() string {
	var parts []string
	for _, kv := range b.machine {
		switch kv[0] {
		case "CPU", "Kernel", "Date":
			parts = append(parts, kv[1])
		}
	}
	return strings.Join(parts, " · ")
}

func esc(s string) string { return html.EscapeString(s) }
