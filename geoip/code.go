package geoip

// code is a country code packed into a small integer, so caches hold it in
// a few bits of an atomic word: 0 is "no country", 1-676 are AA-ZZ.
type code uint16

// codeStrings holds every two-letter string once, so Country returns a code
// without allocating.
var codeStrings = func() (t [26*26 + 1]string) {
	for i := range 26 * 26 {
		t[i+1] = string([]byte{'A' + byte(i/26), 'A' + byte(i%26)})
	}
	return t
}()

// parseCode packs two ASCII letters in either case; anything else is 0.
func parseCode(s string) code {
	if len(s) != 2 {
		return 0
	}
	a, b := upper(s[0]), upper(s[1])
	if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' {
		return 0
	}
	return code(a-'A')*26 + code(b-'A') + 1
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func codeString(c code) (string, bool) {
	if c == 0 || int(c) >= len(codeStrings) {
		return "", false
	}
	return codeStrings[c], true
}
