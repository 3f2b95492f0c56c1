package cmdutil

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
)

// Variables that change how programs load, start, or whom they trust. run
// never sets one from a secret unless the user names it with --allow-env,
// and -o env and -o dotenv (get, list, job-fetch) print none unless given
// --allow-unsafe-names: with --job the project chooses the names and
// values, and one of these would let it run code on the node (LD_PRELOAD,
// BASH_ENV, NODE_OPTIONS…, or PATH for a node that evals the output) or
// read its traffic (HTTPS_PROXY with NODE_TLS_REJECT_UNAUTHORIZED=0).
//
// Sources: glibc's list of variables it strips for setuid programs
// (sysdeps/generic/unsecvars.h, TMPDIR and TZDIR included), the startup
// variables of bash, dash, ksh and zsh, and each runtime's documented
// hooks. Names compare without regard to case (Windows's environment is
// case-insensitive, and curl reads http_proxy in lower case). Plain
// settings such as HOME, LANG, TZ and TERM are not listed.
var unsafeNames = setOf(
	// The shell and what it runs: the command search path, startup files,
	// options, word splitting, prompts (expanded, so they run $(…)).
	"PATH", "PATHEXT", "COMSPEC", "BASH_ENV", "ENV", "ZDOTDIR", "INPUTRC",
	"SHELLOPTS", "BASHOPTS", "IFS", "CDPATH", "GLOBIGNORE", "EXECIGNORE",
	"FPATH", "BASH_XTRACEFD", "BASH_LOADABLES_PATH", "PROMPT_COMMAND",
	"PS0", "PS1", "PS2", "PS3", "PS4",
	// glibc and other libraries that load files or modules named here.
	"GCONV_PATH", "GETCONF_DIR", "GLIBC_TUNABLES", "HOSTALIASES",
	"LOCALDOMAIN", "LOCPATH", "NIS_PATH", "NLSPATH", "RES_OPTIONS",
	"TMPDIR", "TZDIR", "OPENSSL_CONF", "OPENSSL_ENGINES", "OPENSSL_MODULES",
	// Programs that other programs start.
	"EDITOR", "VISUAL", "PAGER", "MANPAGER", "LESSOPEN", "LESSCLOSE",
	"BROWSER", "SSH_ASKPASS", "SUDO_ASKPASS", "CC", "CXX", "MAKEFILES",
	"MAKEFLAGS", "DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG",
	"DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY", "KUBECONFIG",
	// Interpreter and runtime hooks.
	"NODE_OPTIONS", "NODE_PATH", "NODE_REPL_EXTERNAL_MODULE",
	"PERL5OPT", "PERL5LIB", "PERLLIB", "PERL5DB", "PERL5SHELL",
	"PERL_MB_OPT", "PERL_MM_OPT",
	"RUBYOPT", "RUBYLIB", "RUBYPATH", "RUBYSHELL", "GEM_HOME", "GEM_PATH", "BUNDLE_GEMFILE",
	"JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "JAVA_OPTS",
	"JAVA_HOME", "CLASSPATH", "MAVEN_OPTS", "GRADLE_OPTS",
	"PHPRC", "PHP_INI_SCAN_DIR", "TCLLIBPATH", "R_PROFILE", "R_PROFILE_USER",
	"DOTNET_STARTUP_HOOKS", "DOTNET_ADDITIONAL_DEPS", "CORECLR_ENABLE_PROFILING",
	"CORECLR_PROFILER", "CORECLR_PROFILER_PATH", "COR_ENABLE_PROFILING", "COR_PROFILER",
	"GOFLAGS", "GOTOOLCHAIN", "GOROOT", "GOENV", "GOPROXY", "GOSUMDB",
	"GONOSUMDB", "GONOSUMCHECK", "GOINSECURE", "GOPRIVATE",
	// Whom programs trust and where their traffic goes.
	"SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
	"NODE_EXTRA_CA_CERTS", "NODE_TLS_REJECT_UNAUTHORIZED",
	"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "FTP_PROXY", "NO_PROXY",
)

// unsafePrefixes are families of such variables: the dynamic loaders
// (LD_PRELOAD, LD_AUDIT…; macOS DYLD_INSERT_LIBRARIES…), glibc's malloc and
// resolver settings, bash's exported functions, git (GIT_SSH_COMMAND,
// GIT_CONFIG_*, GIT_EXEC_PATH…), every PYTHON* setting (what python -E
// ignores: PYTHONPATH, PYTHONSTARTUP, PYTHONWARNINGS imports modules…), npm
// and pip configuration (a script shell, a package index) and Lua's
// LUA_INIT / LUA_PATH.
var unsafePrefixes = []string{
	"LD_", "DYLD_", "MALLOC_", "RESOLV_", "BASH_FUNC_", "GIT_", "PYTHON",
	"NPM_CONFIG_", "PIP_", "LUA_",
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// UnsafeEnvName reports whether the variable name is one that run refuses
// to set, and -o env|dotenv to print, by default.
func UnsafeEnvName(name string) bool {
	u := strings.ToUpper(name)
	if unsafeNames[u] {
		return true
	}
	for _, p := range unsafePrefixes {
		if strings.HasPrefix(u, p) {
			return true
		}
	}
	return false
}

// UnsafeEnvNames is the names and prefixes (ending in '*') UnsafeEnvName
// refuses, sorted, for help and docs.
func UnsafeEnvNames() []string {
	l := make([]string, 0, len(unsafeNames)+len(unsafePrefixes))
	for n := range unsafeNames {
		l = append(l, n)
	}
	for _, p := range unsafePrefixes {
		l = append(l, p+"*")
	}
	sort.Strings(l)
	return l
}

// UnsafeNamesHelp is the paragraph of the help of the verbs that print -o
// env and -o dotenv.
const UnsafeNamesHelp = `With -o env or -o dotenv, a secret whose variable name changes how
programs load or start, or whom they trust (PATH, LD_PRELOAD and LD_*,
BASH_ENV, ENV, IFS, NODE_OPTIONS, PYTHON*, GIT_*, proxy and TLS settings:
the list of 'nosana-secrets run --help') is refused, as run refuses to set
it: stderr names each refused variable and its key (never a value), nothing
is printed on stdout, and the exit code is 1. A job's project picks the
names and values, so eval "$(… -o env)" of one of these would run its code
here. --allow-unsafe-names prints them all the same.`

// AllowUnsafeNamesFlag is the flag that lets -o env|dotenv print them.
const AllowUnsafeNamesFlag = "allow-unsafe-names"

// AddAllowUnsafeNamesFlag adds --allow-unsafe-names to c.
func AddAllowUnsafeNamesFlag(c *cobra.Command, target *bool) {
	c.Flags().BoolVar(target, AllowUnsafeNamesFlag, false,
		"with -o env|dotenv, print PATH, LD_PRELOAD and the other variables run refuses to set")
}

// unsafeVarsError names the variables of vars that UnsafeEnvName refuses,
// or is nil when there are none.
func unsafeVarsError(vars []EnvVar) error {
	var refused []string
	for _, v := range vars {
		if UnsafeEnvName(v.Name) {
			n := "$" + v.Name
			if v.Key != v.Name {
				n += " (key " + QuoteKey(v.Key) + ")"
			}
			refused = append(refused, n)
		}
	}
	if len(refused) == 0 {
		return nil
	}
	return WithCode(ExitFailure, fmt.Errorf("refused to print %s: %s change%s how programs load or start, or whom they trust; "+
		"nothing was printed (add --%s to print %s all the same)",
		strings.Join(refused, ", "), plural(len(refused), "this variable", "these variables"), plural(len(refused), "s", ""),
		AllowUnsafeNamesFlag, plural(len(refused), "it", "them")))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
