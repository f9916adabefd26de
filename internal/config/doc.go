// Package config loads Countersign's server configuration: one typed
// struct whose defaults live in Default, read from an optional YAML file and
// then overridden by COUNTERSIGN_* environment variables, so containers can
// change a setting without a file.
//
// Load reports every problem at once (unknown keys, unparsable values and
// invalid settings) so an operator fixes the file in one pass instead of
// one restart per mistake. Error messages never repeat secret values such
// as the master key or database URL.
package config
