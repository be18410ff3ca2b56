package client

// Operator endpoints on the log's integrity (docs/INTEGRITY.md). In secured mode only operator
// accounts may call them.
const (
	// AdminVerify checks the hash chain of the log and of the stream.
	AdminVerify = "roster.admin.Verify"
	// AdminExport pages through the log's records with their hashes (roster backup).
	AdminExport = "roster.admin.Export"
	// MaxExportPage is the most records one Export reply carries.
	MaxExportPage = 1000
	// MaxExportBytes bounds one Export reply's records (encoded); a page holds at least one record.
	MaxExportBytes = 512 << 10
)

// Verify asks for a check of the chain from position From (1 when 0).
type Verify struct {
	From uint64 `json:"from,omitempty"`
}

// ChainReport is one verification's outcome: BadPosition 0 when nothing failed.
type ChainReport struct {
	BadPosition uint64 `json:"bad_position,omitempty"`
	Checked     uint64 `json:"checked"`
	From        uint64 `json:"from"`
	Last        uint64 `json:"last"`
	LastHash    string `json:"last_hash,omitempty"`
	OK          bool   `json:"ok"`
	Reason      string `json:"reason,omitempty"`
}

// VerifyResult reports the log's chain and the stream's (each message links to the one before,
// and is the log's record at its position).
type VerifyResult struct {
	Log    ChainReport `json:"log"`
	Stream ChainReport `json:"stream"`
	// Keys is the log's keys checked as the background checksum pass checks them (every table
	// block and value readable, every record at its position and in the stream index, every
	// command with its stored reply, in agreement); absent from a server without that check.
	Keys *ChainReport `json:"keys,omitempty"`
}

// Export asks for the log's records after AfterPosition, up to UpTo (0: the head when asked),
// at most Limit (at most MaxExportPage; 0: that maximum).
type Export struct {
	AfterPosition uint64 `json:"after_position,omitempty"`
	Limit         int    `json:"limit,omitempty"`
	UpTo          uint64 `json:"up_to,omitempty"`
}

// ExportPage is one page of records with their hashes; UpTo is the resolved end and UpToHash
// the hash of the record there. NextAfterPosition is set while records remain up to UpTo.
type ExportPage struct {
	Head              uint64  `json:"head"`
	NextAfterPosition uint64  `json:"next_after_position,omitempty"`
	Records           []Event `json:"records"`
	UpTo              uint64  `json:"up_to"`
	UpToHash          string  `json:"up_to_hash,omitempty"`
}
