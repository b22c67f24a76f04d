package lists

import (
	"strings"
	"testing"
)

func TestReadList(t *testing.T) {
	tests := []struct {
		name, text string
		want       []string // prefix|note
		err        string
	}{
		{"empty", "", nil, ""},
		{"comments and notes", "# office\n192.0.2.10 front desk\n\n198.51.100.0/24\ttrunk provider\n2001:db8::/32 # lab\n",
			[]string{"192.0.2.10/32|front desk", "198.51.100.0/24|trunk provider", "2001:db8::/32|lab"}, ""},
		{"host bits cleared", "192.0.2.77/24\n", []string{"192.0.2.0/24|"}, ""},
		{"mapped v4", "::ffff:192.0.2.1\n", []string{"192.0.2.1/32|"}, ""},
		{"bad line names file and line", "192.0.2.1\nnot-an-ip\n", nil, "list:2: bad address"},
		{"bad cidr", "192.0.2.0/33\n", nil, "list:1: bad network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(strings.NewReader(tt.text), "list")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for _, e := range got {
				s = append(s, e.Prefix.String()+"|"+e.Note)
			}
			if strings.Join(s, ",") != strings.Join(tt.want, ",") {
				t.Fatalf("got %v, want %v", s, tt.want)
			}
		})
	}
}
