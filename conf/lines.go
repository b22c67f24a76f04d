package conf

import (
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// lineIndex maps a key, spelled as toml.Key.String ("sip.ports"), to the
// line where the user's file sets it; array elements are "sip.ports[2]".
// The TOML decoder does not expose positions, and checks made after
// decoding still have to say where the user should look.
type lineIndex map[string]int

// line returns where key is set, falling back to its nearest enclosing
// table (an inline table, a dotted key or the [section] header), and 0 when
// the file does not mention it at all.
func (ix lineIndex) line(key ...string) int {
	for n := len(key); n > 0; n-- {
		if l, ok := ix[toml.Key(key[:n]).String()]; ok {
			return l
		}
	}
	return 0
}

// elem returns the line of element i of an array, or of the key.
func (ix lineIndex) elem(i int, key ...string) int {
	if l, ok := ix[elemKey(toml.Key(key).String(), i)]; ok {
		return l
	}
	return ix.line(key...)
}

// has reports whether the file sets key itself.
func (ix lineIndex) has(key ...string) bool {
	_, ok := ix[toml.Key(key).String()]
	return ok
}

func elemKey(key string, i int) string { return key + "[" + strconv.Itoa(i) + "]" }

// indexLines scans TOML text for table headers, keys (dotted, quoted and
// inside inline tables) and array elements. It is meant for text the TOML
// parser accepted, but must not loop or panic on anything else, since it
// also runs to place syntax errors.
func indexLines(text string) lineIndex {
	return scanLines(text).ix
}

func scanLines(text string) *lineScanner {
	sc := &lineScanner{s: text, line: 1, ix: lineIndex{}, onLine: map[int][]string{}}
	sc.document()
	return sc
}

type lineScanner struct {
	s    string
	i    int
	line int
	ix   lineIndex
	// onLine lists every key set on a line, repeats included, to name the
	// key of a syntax error such as a duplicate.
	onLine map[int][]string
}

func (sc *lineScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *lineScanner) at(c byte) bool { return sc.i < len(sc.s) && sc.s[sc.i] == c }

func (sc *lineScanner) document() {
	sc.walk(sc.mark, func(table, k []string) {
		sc.markDotted(table, k)
		sc.value(join(table, k))
	})
}

// walk scans the document statement by statement: header gets a
// [table] header's name, key a key with the scanner just past its "=".
// Either may move the scanner anywhere on the statement's lines; walk
// goes on from the end of that line. It is the one reading of the TOML
// layout that error lines and config edits share.
func (sc *lineScanner) walk(header func(table []string), key func(table, k []string)) {
	var table []string
	for !sc.eof() {
		start := sc.i
		sc.skipBlank(true)
		if sc.eof() {
			break
		}
		if sc.at('[') {
			sc.i++
			if sc.at('[') {
				sc.i++
			}
			table = sc.key()
			header(table)
		} else {
			k := sc.key()
			sc.skipBlank(false)
			if len(k) > 0 && sc.at('=') {
				sc.i++
				key(table, k)
			}
		}
		sc.skipLine()
		if sc.i == start {
			sc.i++ // always make progress, whatever the input
		}
	}
}

// mark records the first line that sets a key; later mentions (an array of
// tables) keep the first.
func (sc *lineScanner) mark(key []string) {
	if len(key) == 0 {
		return
	}
	k := toml.Key(key).String()
	if _, ok := sc.ix[k]; !ok {
		sc.ix[k] = sc.line
	}
	sc.onLine[sc.line] = append(sc.onLine[sc.line], k)
}

// markDotted marks a.b.c = ... and also a and a.b, which it creates.
func (sc *lineScanner) markDotted(table, k []string) {
	for n := 1; n <= len(k); n++ {
		sc.mark(join(table, k[:n]))
	}
}

func join(a, b []string) []string {
	return append(append(make([]string, 0, len(a)+len(b)), a...), b...)
}

// skipBlank skips spaces and comments, and newlines too if nl is set.
func (sc *lineScanner) skipBlank(nl bool) {
	for !sc.eof() {
		switch sc.s[sc.i] {
		case ' ', '\t', '\r':
			sc.i++
		case '\n':
			if !nl {
				return
			}
			sc.line++
			sc.i++
		case '#':
			for !sc.eof() && sc.s[sc.i] != '\n' {
				sc.i++
			}
		default:
			return
		}
	}
}

// skipLine moves to the newline that ends the current line.
func (sc *lineScanner) skipLine() {
	for !sc.eof() && sc.s[sc.i] != '\n' {
		sc.i++
	}
}

// key reads a possibly dotted, possibly quoted key.
func (sc *lineScanner) key() []string {
	var parts []string
	for {
		sc.skipBlank(false)
		start := sc.i
		switch {
		case sc.at('"'):
			sc.i++
			sc.until(`"`, true, false)
			raw := sc.s[start:sc.i]
			if u, err := strconv.Unquote(raw); err == nil {
				parts = append(parts, u)
			} else {
				parts = append(parts, strings.Trim(raw, `"`))
			}
		case sc.at('\''):
			sc.i++
			sc.until(`'`, false, false)
			parts = append(parts, strings.Trim(sc.s[start:sc.i], "'"))
		default:
			for !sc.eof() && isBare(sc.s[sc.i]) {
				sc.i++
			}
			if sc.i == start {
				return parts
			}
			parts = append(parts, sc.s[start:sc.i])
		}
		sc.skipBlank(false)
		if !sc.at('.') {
			return parts
		}
		sc.i++
	}
}

func isBare(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// until moves past the closing delim. Backslash escapes count only in basic
// strings, newlines only in multi-line ones; a single-line string stops at
// the end of its line.
func (sc *lineScanner) until(delim string, escapes, multiline bool) {
	for !sc.eof() {
		c := sc.s[sc.i]
		switch {
		case escapes && c == '\\':
			sc.i++
			if sc.at('\n') {
				sc.line++
			}
			if !sc.eof() && (multiline || sc.s[sc.i] != '\n') {
				sc.i++
			}
		case c == '\n':
			if !multiline {
				return
			}
			sc.line++
			sc.i++
		case strings.HasPrefix(sc.s[sc.i:], delim):
			sc.i += len(delim)
			// """a"""" ends with a quote inside: up to two more belong to it.
			for n := 0; multiline && n < 2 && sc.at(delim[0]); n++ {
				sc.i++
			}
			return
		default:
			sc.i++
		}
	}
}

// value skips one value, marking keys of inline tables and array elements.
func (sc *lineScanner) value(path []string) {
	sc.skipBlank(false)
	switch rest := sc.s[sc.i:]; {
	case strings.HasPrefix(rest, `"""`):
		sc.i += 3
		sc.until(`"""`, true, true)
	case strings.HasPrefix(rest, `'''`):
		sc.i += 3
		sc.until(`'''`, false, true)
	case sc.at('"'):
		sc.i++
		sc.until(`"`, true, false)
	case sc.at('\''):
		sc.i++
		sc.until(`'`, false, false)
	case sc.at('['):
		sc.i++
		sc.array(path)
	case sc.at('{'):
		sc.i++
		sc.inlineTable(path)
	default:
		for !sc.eof() && !strings.ContainsRune(",]}\n#", rune(sc.s[sc.i])) {
			sc.i++
		}
	}
}

func (sc *lineScanner) array(path []string) {
	key := ""
	if len(path) > 0 {
		key = toml.Key(path).String()
	}
	for n := 0; ; n++ {
		sc.skipBlank(true)
		if sc.eof() {
			return
		}
		if sc.at(']') {
			sc.i++
			return
		}
		start := sc.i
		if key != "" {
			if _, ok := sc.ix[elemKey(key, n)]; !ok {
				sc.ix[elemKey(key, n)] = sc.line
			}
		}
		sc.value(nil)
		sc.skipBlank(true)
		if sc.at(',') {
			sc.i++
		}
		if sc.i == start {
			sc.i++
		}
	}
}

func (sc *lineScanner) inlineTable(path []string) {
	for {
		sc.skipBlank(true) // TOML 1.1 lets inline tables span lines
		if sc.eof() {
			return
		}
		if sc.at('}') {
			sc.i++
			return
		}
		start := sc.i
		k := sc.key()
		sc.skipBlank(false)
		if len(k) > 0 && sc.at('=') {
			sc.i++
			if path != nil {
				sc.markDotted(path, k)
				sc.value(join(path, k))
			} else {
				sc.value(nil)
			}
		}
		sc.skipBlank(true)
		if sc.at(',') {
			sc.i++
		}
		if sc.i == start {
			sc.i++
		}
	}
}
