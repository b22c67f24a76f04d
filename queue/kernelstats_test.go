package queue

import (
	"os"
	"strings"
	"testing"
)

func TestParseKernelStats(t *testing.T) {
	f, err := os.Open("testdata/nfnetlink_queue")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := parseKernelStats(f)
	if err != nil {
		t.Fatal(err)
	}
	want := map[uint16]KernelStats{
		0:     {Queue: 0, PortID: 19698, Waiting: 0, CopyMode: 2, CopyRange: 65531, IDSequence: 41},
		1:     {Queue: 1, PortID: 4294963173, Waiting: 17, CopyMode: 2, CopyRange: 65531, QueueDropped: 3, UserDropped: 12, IDSequence: 8812345},
		2:     {Queue: 2, PortID: 2811, CopyMode: 0, CopyRange: 65535},
		65535: {Queue: 65535, PortID: 12, Waiting: 1024, CopyMode: 2, CopyRange: 65531, IDSequence: 4294967295},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d queues, want %d: %+v", len(got), len(want), got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("queue %d: got %+v, want %+v", k, got[k], w)
		}
	}
}

func TestParseKernelStatsErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"blank lines", "\n\n", ""},
		{"extra columns ignored", "    3   100     0 2 65531     0     0       9  1 77 88\n", ""},
		{"too few fields", "    0  19698     0 2\n", "line 1: 4 fields"},
		{"queue number too big", "65536 1 0 2 65531 0 0 1 1\n", "line 1 field 1"},
		{"not a number", "0 1 x 2 65531 0 0 1 1\n", "line 1 field 3"},
		{"negative", "0 1 0 2 65531 0 -1 1 1\n", "line 1 field 7"},
		{"second line", "0 1 0 2 65531 0 0 1 1\n0 1 0 2 65531 0 0 99999999999 1\n", "line 2 field 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKernelStats(strings.NewReader(tt.in))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// TestReadKernelStats reads this host's file, when the module is there.
func TestReadKernelStats(t *testing.T) {
	if _, err := os.Stat(KernelStatsPath); err != nil {
		t.Skip("no nfnetlink_queue here")
	}
	if _, err := ReadKernelStats(); err != nil {
		t.Fatal(err)
	}
}
