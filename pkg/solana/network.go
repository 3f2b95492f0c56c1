package solana

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Network names accepted by Resolve.
const (
	Mainnet = "mainnet"
	Devnet  = "devnet"
)

// DefaultTimeout bounds every RPC call unless Config.Timeout says otherwise.
const DefaultTimeout = 5 * time.Second

// Network is a preset: a public RPC endpoint and the jobs program deployed
// on that cluster.
type Network struct {
	Name        string
	RPCURL      string
	JobsProgram PublicKey
}

var networks = map[string]Network{
	Mainnet: {
		Name:        Mainnet,
		RPCURL:      "https://api.mainnet-beta.solana.com",
		JobsProgram: MustPublicKeyFromBase58("nosJhNRqr2bc9g1nfGDcXXTXvYUmxD4cVwy2pMWhrYM"),
	},
	Devnet: {
		Name:        Devnet,
		RPCURL:      "https://api.devnet.solana.com",
		JobsProgram: MustPublicKeyFromBase58("nosJTmGQxvwXy23vng5UjkTbfv91Bzf9jEuro78dAGR"),
	},
}

// Networks returns the presets by name.
func Networks() []Network {
	out := make([]Network, 0, len(networks))
	for _, n := range networks {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b Network) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// LookupNetwork returns the preset called name ("mainnet" or "devnet",
// case-insensitive; empty means mainnet).
func LookupNetwork(name string) (Network, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	if n == "" {
		n = Mainnet
	}
	net, ok := networks[n]
	if !ok {
		return Network{}, fmt.Errorf("unknown Solana network %q: use %q or %q", name, Mainnet, Devnet)
	}
	return net, nil
}

// Config says where to find job accounts.
type Config struct {
	Network     string        // preset name the defaults came from, for logs
	RPCURL      string        // JSON-RPC endpoint (http or https)
	JobsProgram PublicKey     // owner every job and run account must have
	Timeout     time.Duration // per RPC call; zero means DefaultTimeout
}

// Resolve builds a Config from the settings SOLANA_NETWORK, SOLANA_RPC_URL
// and JOBS_PROGRAM_ID: the network preset supplies the RPC URL and the jobs
// program unless rpcURL or programID (base58) override them. Empty strings
// mean "not set".
func Resolve(network, rpcURL, programID string) (Config, error) {
	net, err := LookupNetwork(network)
	if err != nil {
		return Config{}, err
	}
	cfg := Config{Network: net.Name, RPCURL: net.RPCURL, JobsProgram: net.JobsProgram, Timeout: DefaultTimeout}
	if s := strings.TrimSpace(rpcURL); s != "" {
		if err := checkRPCURL(s); err != nil {
			return Config{}, err
		}
		cfg.RPCURL = s
	}
	if s := strings.TrimSpace(programID); s != "" {
		pk, err := PublicKeyFromBase58(s)
		if err != nil {
			return Config{}, fmt.Errorf("invalid jobs program id %q: want a base58 public key of 32 bytes: %v", s, err)
		}
		cfg.JobsProgram = pk
	}
	return cfg, nil
}

// checkRPCURL accepts absolute http and https URLs. The error never repeats
// the URL's query or user info, which may hold an API key.
func checkRPCURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid Solana RPC URL: %v", redactURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid Solana RPC URL: scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("invalid Solana RPC URL: no host")
	}
	return nil
}

func redactURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

// hostOf names an endpoint in messages: scheme and host only.
func hostOf(endpoint string) string {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return "RPC endpoint"
	}
	return u.Scheme + "://" + u.Host
}
