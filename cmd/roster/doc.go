// Command roster is the command-line client of Roster's NATS wire contract (API.md):
//
//	roster [global flags] <Command|Query> ['{json}' | - | @request.json] [--field value …]
//	roster help <Command|Query>          (the same text as roster <Command|Query> --help)
//	roster audit | rebuild               operator tools
//	roster completion bash|zsh|fish|powershell
//
// Every command and query of the typed client (package client) is a subcommand. Its flags
// are derived from the client's request struct by reflection: each JSON field becomes a
// flag (org_id → --org-id; --org_id is accepted too), typed by the field's Go type
// (strings, booleans, whole numbers, string lists --roles a,b, maps --context k=v), and a
// field without omitempty is required (except a create command's name and kind, which the
// server defaults). A new field in the client therefore appears in the CLI with no hand work.
//
// The CLI is built on spf13/cobra rather than alecthomas/kong: cobra lets commands and flags
// be declared at run time from reflected types (kong wants its own struct tags at compile
// time, and the client's requests carry only json tags), and it ships what the CLI needs out
// of the box: "did you mean" for commands, shell completion for bash, zsh, fish and
// PowerShell, --version, and one help text for "roster help X" and "roster X --help". It is
// the most widely used Go CLI library (kubectl, gh, hugo) and actively maintained.
//
// Every command gets a generated command_id (UUIDv7) unless --command-id is given, so a
// command retried after a timeout is applied once; on a timeout the CLI prints the line to
// retry with. Replies print as readable text and tables (--json prints the raw reply), with
// every value passed through one escaping function so that control characters in names
// cannot fake rows or move the cursor.
//
// ImportMembers (aliases import, import-members) splits a CSV over one command's limits
// (commands.MaxImportRows rows, commands.MaxCSVBytes bytes, the request body and the
// connection's max payload) into chunks of whole rows found with encoding/csv, each repeating
// the header line, bounded by --chunk-rows and by bytes. Chunk i carries the command id
// <base>-i, base being --command-id or a generated UUIDv7 printed first, so a run that stopped
// at a failed chunk is finished by rerunning the printed line: the applied chunks are answered
// from the server's idempotency memory and append nothing. The replies are aggregated into one
// ImportMembers reply (rows renumbered over the whole CSV; --json adds base_command_id, chunks,
// chunks_applied). The progress bar is schollz/progressbar, already used by roster rebuild;
// it is drawn only when stderr is a terminal and neither --quiet nor --json is given.
//
// Exit status: 0 success; 1 usage, connection or transport error; 2 refused by the server
// (error <code>: <message> on stderr); 3 an import answered with failed rows.
package main
