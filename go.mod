module github.com/sipprot/sipprot

go 1.26.8

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/emiago/sipgo v1.7.3
	github.com/gaissmai/bart v0.30.0
	github.com/google/gopacket v1.1.19
	github.com/spf13/cobra v1.10.2
)

require (
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/pool v0.2.1 // indirect
	github.com/gobwas/ws v1.3.2 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/net v0.0.0-20190620200207-3b0461eec859 // indirect
	golang.org/x/sync v0.16.0 // indirect
	golang.org/x/sys v0.24.0 // indirect
)
