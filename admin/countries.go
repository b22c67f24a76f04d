package admin

import (
	_ "embed"
	"sort"
	"strings"
)

// countriesTab is tzdata's iso3166.tab (public domain): code TAB name,
// plus XK (Kosovo), which conf accepts because the GeoIP databases use it.
//
//go:embed countries.tab
var countriesTab string

// country is one choice on the GeoIP page.
type country struct {
	Code, Name string
	Checked    bool
}

// countryNames maps each code to its English name.
var countryNames = func() map[string]string {
	m := map[string]string{}
	for line := range strings.Lines(countriesTab) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		code, name, ok := strings.Cut(line, "\t")
		if ok {
			m[code] = name
		}
	}
	return m
}()

// countryName is "France (FR)", or the code alone when it is unknown.
func countryName(code string) string {
	if n, ok := countryNames[strings.ToUpper(code)]; ok {
		return n + " (" + strings.ToUpper(code) + ")"
	}
	return code
}

// countryChoices lists every country by name, those in selected checked.
func countryChoices(selected map[string]bool) []country {
	out := make([]country, 0, len(countryNames))
	for code, name := range countryNames {
		out = append(out, country{Code: code, Name: name, Checked: selected[code]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
