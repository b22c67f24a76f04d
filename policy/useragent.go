package policy

import "strings"

// uaMatcher matches User-Agent values against scanner names, ignoring ASCII
// case and without allocating, so a scanner cannot evade by changing case.
type uaMatcher struct {
	needles []string // lower-case, trimmed, non-empty
}

func newUAMatcher(names []string) uaMatcher {
	var m uaMatcher
	for _, n := range names {
		n = strings.ToLower(strings.TrimSpace(n))
		if n != "" {
			m.needles = append(m.needles, n)
		}
	}
	return m
}

// match returns the configured name found in ua, or "".
func (m *uaMatcher) match(ua string) string {
	if ua == "" {
		return ""
	}
	for _, n := range m.needles {
		if containsFold(ua, n) {
			return n
		}
	}
	return ""
}

// containsFold reports whether lowerNeedle occurs in s under ASCII case
// folding. lowerNeedle must already be lower case.
func containsFold(s, lowerNeedle string) bool {
	n := len(lowerNeedle)
	if n == 0 {
		return true
	}
	first := lowerNeedle[0]
	for i := 0; i+n <= len(s); i++ {
		if lower(s[i]) != first {
			continue
		}
		j := 1
		for j < n && lower(s[i+j]) == lowerNeedle[j] {
			j++
		}
		if j == n {
			return true
		}
	}
	return false
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
