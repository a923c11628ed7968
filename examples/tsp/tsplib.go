package main

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// parseTSPLIB reads a symmetric TSP in TSPLIB format with node coordinates
// ("TYPE: TSP", "NODE_COORD_SECTION") into an Instance. A TSPLIB file this
// example cannot solve (another problem type, explicit or 3D weights, an
// EDGE_WEIGHT_TYPE it does not compute) is refused with the reason.
func parseTSPLIB(r io.Reader) (Instance, error) {
	var in Instance
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	dim, line := -1, 0
	seen := map[int]bool{}
	section := ""
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		if text == "EOF" {
			break
		}
		f := strings.Fields(text)
		if section != "" && isNumber(f[0]) {
			switch section {
			case "NODE_COORD_SECTION":
				if len(f) != 3 {
					return in, fmt.Errorf("tsplib line %d: want \"index x y\", got %q", line, text)
				}
				i, err := strconv.Atoi(f[0])
				if err != nil || i < 1 || i > dim || seen[i] {
					return in, fmt.Errorf("tsplib line %d: node %q is not a new index in 1..%d", line, f[0], dim)
				}
				x, errX := strconv.ParseFloat(f[1], 64)
				y, errY := strconv.ParseFloat(f[2], 64)
				if errX != nil || errY != nil {
					return in, fmt.Errorf("tsplib line %d: bad coordinates %q", line, text)
				}
				seen[i] = true
				in.Points[i-1] = [2]float64{x, y}
			case "DISPLAY_DATA_SECTION": // drawing hints: not needed
			}
			continue
		}
		key, val, hasColon := strings.Cut(text, ":")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		section = ""
		switch key {
		case "NAME", "COMMENT":
		case "TYPE":
			if val != "TSP" {
				return in, fmt.Errorf("tsplib: TYPE %s is not supported; only symmetric TSP (TYPE: TSP)", val)
			}
		case "DIMENSION":
			n, err := strconv.Atoi(val)
			if err != nil || n < 1 {
				return in, fmt.Errorf("tsplib line %d: bad DIMENSION %q", line, val)
			}
			dim = n
			in.Points = make([][2]float64, n)
		case "EDGE_WEIGHT_TYPE":
			if _, ok := metrics[val]; !ok {
				return in, fmt.Errorf("tsplib: EDGE_WEIGHT_TYPE %s is not supported; supported: %s",
					val, strings.Join(edgeWeightTypes(), ", "))
			}
			in.EdgeWeightType = val
		case "NODE_COORD_TYPE":
			if val != "TWOD_COORDS" {
				return in, fmt.Errorf("tsplib: NODE_COORD_TYPE %s is not supported; only TWOD_COORDS", val)
			}
		case "DISPLAY_DATA_TYPE":
		case "NODE_COORD_SECTION", "DISPLAY_DATA_SECTION":
			if dim < 0 {
				return in, fmt.Errorf("tsplib line %d: %s before DIMENSION", line, key)
			}
			section = key
		default:
			if !hasColon && strings.HasSuffix(key, "_SECTION") {
				return in, fmt.Errorf("tsplib: %s is not supported (only node coordinates)", key)
			}
			return in, fmt.Errorf("tsplib line %d: keyword %s is not supported", line, key)
		}
	}
	if err := sc.Err(); err != nil {
		return in, err
	}
	switch {
	case dim < 0:
		return in, fmt.Errorf("tsplib: no DIMENSION")
	case in.EdgeWeightType == "":
		return in, fmt.Errorf("tsplib: no EDGE_WEIGHT_TYPE")
	case len(seen) != dim:
		return in, fmt.Errorf("tsplib: %d of %d node coordinates given", len(seen), dim)
	}
	return in, nil
}

// parseTour reads a TSPLIB tour file ("TOUR_SECTION", node indexes from 1,
// ended by -1) and returns the tour with indexes from 0.
func parseTour(r io.Reader) ([]int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	sc.Split(bufio.ScanWords)
	inSection := false
	var tour []int
	for sc.Scan() {
		w := sc.Text()
		if !inSection {
			inSection = w == "TOUR_SECTION"
			continue
		}
		n, err := strconv.Atoi(w)
		if err != nil {
			return nil, fmt.Errorf("tsplib tour: %q is not a node index", w)
		}
		if n == -1 {
			return tour, nil
		}
		if n < 1 {
			return nil, fmt.Errorf("tsplib tour: bad node index %d", n)
		}
		tour = append(tour, n-1)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !inSection {
		return nil, fmt.Errorf("tsplib tour: no TOUR_SECTION")
	}
	return nil, fmt.Errorf("tsplib tour: TOUR_SECTION not ended by -1")
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
