package sipparse

import "strings"

// eachNonce calls fn with the value of every nonce parameter in an
// Authorization, Proxy-Authorization, WWW-Authenticate or
// Proxy-Authenticate header value (RFC 3261 section 25.1 / RFC 7235: a
// scheme, then comma-separated name=value parameters, possibly several
// challenges in one value). It scans the raw value instead of running
// sipgo's header parser: only one parameter matters, and the values it
// returns are substrings of v, so nothing is allocated.
//
// Parameter names are matched ignoring case and only as whole names
// ("cnonce" and "nextnonce" are not "nonce"); quoted values may hold
// commas, '=' and escaped quotes, which do not end them. A quoted value is
// returned without its quotes but with any backslash escapes left in: the
// PBX's challenge and the client's answer are compared in the same raw
// form, so no unescaping (and no copy) is needed.
func eachNonce(v string, fn func(string)) {
	i := 0
	for i < len(v) {
		// A parameter name, or a scheme name (followed by blank, not '=').
		i = skipSep(v, i)
		start := i
		for i < len(v) && v[i] != '=' && v[i] != ',' && v[i] != ' ' && v[i] != '\t' && v[i] != '"' {
			i++
		}
		name := v[start:i]
		j := skipBlank(v, i)
		if j >= len(v) || v[j] != '=' {
			if j < len(v) && v[j] == '"' {
				// A stray quoted string: skip it whole so its content is
				// never taken for parameters.
				_, i = value(v, j)
			} else if i == start {
				i++ // a byte that starts nothing: step over it
			}
			continue
		}
		val, end := value(v, skipBlank(v, j+1))
		i = end
		if len(name) == len("nonce") && strings.EqualFold(name, "nonce") {
			fn(val)
		}
	}
}

// value reads a parameter value at v[i]: a quoted string (returned without
// the quotes, escapes kept) or a token up to the next ',' or blank. It
// returns the value and the index after it.
func value(v string, i int) (string, int) {
	if i < len(v) && v[i] == '"' {
		start := i + 1
		for j := start; j < len(v); j++ {
			switch v[j] {
			case '\\':
				j++ // the escaped byte, whatever it is
			case '"':
				return v[start:j], j + 1
			}
		}
		return v[start:], len(v) // unterminated: the rest
	}
	start := i
	for i < len(v) && v[i] != ',' && v[i] != ' ' && v[i] != '\t' {
		i++
	}
	return v[start:i], i
}

func skipBlank(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
		i++
	}
	return i
}

func skipSep(v string, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
		i++
	}
	return i
}
