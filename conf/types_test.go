package conf

import (
	"net/netip"
	"testing"
	"time"
)

func TestDuration(t *testing.T) {
	tests := []struct {
		name, in string
		want     time.Duration
		text     string // MarshalText; "" means same as in
		wantErr  bool
	}{
		{"minutes", "10m", 10 * time.Minute, "", false},
		{"hours", "24h", 24 * time.Hour, "", false},
		{"seconds", "90s", 90 * time.Second, "1m30s", false},
		{"mixed", "1h30m", 90 * time.Minute, "", false},
		{"hour and seconds", "1h0m5s", time.Hour + 5*time.Second, "", false},
		{"fraction", "1.5s", 1500 * time.Millisecond, "", false},
		{"zero", "0s", 0, "", false},
		{"no unit", "10", 0, "", true},
		{"words", "ten minutes", 0, "", true},
		{"empty", "", 0, "", true},
		{"days", "1d", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if d.Duration != tt.want {
				t.Errorf("got %v, want %v", d.Duration, tt.want)
			}
			want := tt.text
			if want == "" {
				want = tt.in
			}
			if b, _ := d.MarshalText(); string(b) != want {
				t.Errorf("MarshalText = %q, want %q", b, want)
			}
		})
	}
}

func TestPortRange(t *testing.T) {
	tests := []struct {
		name, in string
		want     PortRange
		wantErr  bool
	}{
		{"single", "5060", PortRange{5060, 5060}, false},
		{"range", "5060:5062", PortRange{5060, 5062}, false},
		{"degenerate range", "5060:5060", PortRange{5060, 5060}, false},
		{"lowest", "1", PortRange{1, 1}, false},
		{"highest", "65535", PortRange{65535, 65535}, false},
		{"whole", "1:65535", PortRange{1, 65535}, false},
		{"zero", "0", PortRange{}, true},
		{"too big", "65536", PortRange{}, true},
		{"huge", "99999999999999999999", PortRange{}, true},
		{"reversed", "5062:5060", PortRange{}, true},
		{"open end", "5060:", PortRange{}, true},
		{"open start", ":5060", PortRange{}, true},
		{"three parts", "1:2:3", PortRange{}, true},
		{"dash", "5060-5062", PortRange{}, true},
		{"sign", "+5060", PortRange{}, true},
		{"negative", "-1", PortRange{}, true},
		{"space", " 5060", PortRange{}, true},
		{"empty", "", PortRange{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r PortRange
			err := r.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if r != tt.want {
				t.Errorf("got %+v, want %+v", r, tt.want)
			}
			var back PortRange
			b, err := r.MarshalText()
			if err != nil || back.UnmarshalText(b) != nil || back != r {
				t.Errorf("round trip via %q gave %+v, %v", b, back, err)
			}
		})
	}
}

func TestPortRangeContains(t *testing.T) {
	r := PortRange{5060, 5062}
	tests := []struct {
		name string
		port uint16
		want bool
	}{
		{"below", 5059, false},
		{"low end", 5060, true},
		{"inside", 5061, true},
		{"high end", 5062, true},
		{"above", 5063, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Contains(tt.port); got != tt.want {
				t.Errorf("Contains(%d) = %v", tt.port, got)
			}
		})
	}
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		name, in string
		want     Protocol
		wantErr  bool
	}{
		{"udp", "udp", UDP, false},
		{"tcp", "tcp", TCP, false},
		{"upper", "UDP", UDP, false},
		{"mixed", "Tcp", TCP, false},
		{"sctp", "sctp", 0, true},
		{"tls", "tls", 0, true},
		{"number", "17", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Protocol
			err := p.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p != tt.want {
				t.Errorf("got %v, want %v", p, tt.want)
			}
			if b, _ := p.MarshalText(); string(b) != p.String() || (string(b) != "udp" && string(b) != "tcp") {
				t.Errorf("MarshalText = %q", b)
			}
		})
	}
	if _, err := Protocol(1).MarshalText(); err == nil {
		t.Error("MarshalText of protocol 1 succeeded")
	}
}

func TestPrefix(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		wantErr  bool
	}{
		{"ipv4 address", "192.0.2.7", "192.0.2.7/32", false},
		{"ipv6 address", "2001:db8::1", "2001:db8::1/128", false},
		{"ipv4 cidr", "198.51.100.0/24", "198.51.100.0/24", false},
		{"host bits cleared", "198.51.100.9/24", "198.51.100.0/24", false},
		{"ipv6 cidr", "2001:db8::/32", "2001:db8::/32", false},
		{"mapped address", "::ffff:203.0.113.5", "203.0.113.5/32", false},
		{"mapped cidr", "::ffff:203.0.113.0/120", "203.0.113.0/24", false},
		{"everything", "0.0.0.0/0", "0.0.0.0/0", false},
		{"bad octet", "192.0.2.256", "", true},
		{"bits too many", "192.0.2.0/33", "", true},
		{"zone", "fe80::1%eth0", "", true},
		{"zone cidr", "fe80::1%eth0/64", "", true},
		{"hostname", "example.com", "", true},
		{"empty", "", "", true},
		{"slash only", "/24", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p Prefix
			err := p.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if p.Prefix != netip.MustParsePrefix(tt.want) {
				t.Errorf("got %v, want %v", p.Prefix, tt.want)
			}
			if b, _ := p.MarshalText(); string(b) != tt.want {
				t.Errorf("MarshalText = %q, want %q", b, tt.want)
			}
		})
	}
	if _, err := (Prefix{}).MarshalText(); err == nil {
		t.Error("MarshalText of the zero Prefix succeeded")
	}
}

func TestCountry(t *testing.T) {
	tests := []struct {
		name, in string
		want     Country
		wantErr  bool
	}{
		{"upper", "CN", "CN", false},
		{"lower", "ru", "RU", false},
		{"mixed", "fR", "FR", false},
		{"three letters", "FRA", "", true},
		{"one letter", "F", "", true},
		{"digit", "F1", "", true},
		{"non-ascii", "ÉS", "", true},
		{"empty", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c Country
			err := c.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err == nil && c != tt.want {
				t.Errorf("got %q, want %q", c, tt.want)
			}
		})
	}
}

func TestTimeOfDay(t *testing.T) {
	tests := []struct {
		name, in string
		want     TimeOfDay
		wantErr  bool
	}{
		{"morning", "07:00", TimeOfDay{7, 0}, false},
		{"midnight", "00:00", TimeOfDay{0, 0}, false},
		{"last minute", "23:59", TimeOfDay{23, 59}, false},
		{"hour 24", "24:00", TimeOfDay{}, true},
		{"minute 60", "12:60", TimeOfDay{}, true},
		{"one digit hour", "7:00", TimeOfDay{}, true},
		{"seconds", "07:00:00", TimeOfDay{}, true},
		{"dot", "07.00", TimeOfDay{}, true},
		{"letters", "ab:cd", TimeOfDay{}, true},
		{"empty", "", TimeOfDay{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d TimeOfDay
			err := d.UnmarshalText([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("UnmarshalText(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if d != tt.want {
				t.Errorf("got %+v, want %+v", d, tt.want)
			}
			if b, _ := d.MarshalText(); string(b) != tt.in {
				t.Errorf("MarshalText = %q, want %q", b, tt.in)
			}
		})
	}
}

func TestCountryKnown(t *testing.T) {
	n := 0
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			if Country([]byte{byte(a), byte(b)}).Known() {
				n++
			}
		}
	}
	if n != 250 { // 249 assigned codes plus XK
		t.Errorf("%d known codes, want 250", n)
	}
	for _, tt := range []struct {
		c    Country
		want bool
	}{
		{"CN", true}, {"ru", true}, {"GB", true}, {"XK", true}, {"SS", true}, {"BQ", true},
		{"XX", false}, {"ZZ", false}, {"UK", false}, {"EU", false}, {"AN", false}, {"YU", false}, {"", false}, {"FRA", false},
	} {
		if got := tt.c.Known(); got != tt.want {
			t.Errorf("Country(%q).Known() = %v, want %v", tt.c, got, tt.want)
		}
	}
}
