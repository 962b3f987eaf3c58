package config

// Names returns every variable Load reads, in Config field order, then the
// NODE_ENV alias: for tools that check a dotenv file or a manifest for names
// the gateway would silently ignore (a typo such as UPSTREAM=).
func Names() []string { return envNames() }
