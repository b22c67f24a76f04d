package conf

import (
	"reflect"
	"testing"
)

func TestIndexLines(t *testing.T) {
	tests := []struct {
		name string
		text string
		want lineIndex
	}{
		{"sections and keys", "# c\n[sip]\nports = [\"5060\"]\n\n[ queue ]\nnumber = 1 # n\n",
			lineIndex{"sip": 2, "sip.ports": 3, "sip.ports[0]": 3, "queue": 5, "queue.number": 6}},
		{"multi-line array", "[sip]\nports = [\n  \"5060\", # a\n\n  \"5061\",\n]\nblock_time = \"1m\"\n",
			lineIndex{"sip": 1, "sip.ports": 2, "sip.ports[0]": 3, "sip.ports[1]": 5, "sip.block_time": 7}},
		{"dotted keys", "sip.ports = []\nsip . block_time = \"1m\"\n",
			lineIndex{"sip": 1, "sip.ports": 1, "sip.block_time": 2}},
		{"inline table", "\nsip = { ports = [\"5060\"], block_time = \"1m\" }\n",
			lineIndex{"sip": 2, "sip.ports": 2, "sip.ports[0]": 2, "sip.block_time": 2}},
		{"quoted keys", "[\"sip\"]\n'block_time' = \"1m\"\n\"a b\" = 1\n",
			lineIndex{"sip": 1, "sip.block_time": 2, `sip."a b"`: 3}},
		{"multi-line strings hide keys", "[smtp]\nhost = \"\"\"\nport = 25\n[log]\n\"\"\"\nfrom = '''\n[x]\n'''\nport = 1\n",
			lineIndex{"smtp": 1, "smtp.host": 2, "smtp.from": 6, "smtp.port": 9}},
		{"escaped quotes", "[a]\nb = \"x\\\"# [c]\"\nd = 1\n",
			lineIndex{"a": 1, "a.b": 2, "a.d": 3}},
		{"array of tables", "[[x]]\na = 1\n[[x]]\na = 2\n",
			lineIndex{"x": 1, "x.a": 2}},
		{"crlf", "[sip]\r\nports = []\r\n",
			lineIndex{"sip": 1, "sip.ports": 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := indexLines(tt.text); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestLineFallback(t *testing.T) {
	ix := indexLines("[sip]\nports = [\n\"5060\",\n]\n\n[queue]\nx = { number = 2 }\n")
	tests := []struct {
		name string
		got  int
		want int
	}{
		{"key", ix.line("sip", "ports"), 2},
		{"element", ix.elem(0, "sip", "ports"), 3},
		{"element past end falls back to key", ix.elem(5, "sip", "ports"), 2},
		{"absent key falls back to section", ix.line("sip", "block_time"), 1},
		{"inline table key", ix.line("queue", "x", "number"), 7},
		{"absent section", ix.line("log", "level"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got line %d, want %d", tt.got, tt.want)
			}
		})
	}
}
