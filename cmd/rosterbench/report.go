package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report holds every figure: per-round samples (reported as their median) and single values.
type Report struct {
	cfg    Config
	rounds map[string][]float64
	values map[string]float64
	notes  []string
	start  time.Time
}

func newReport(cfg Config) *Report {
	return &Report{cfg: cfg, rounds: map[string][]float64{}, values: map[string]float64{}, start: time.Now()}
}

// add records one round's sample of a figure.
func (r *Report) add(key string, v float64) { r.rounds[key] = append(r.rounds[key], v) }

// set records a figure measured once (or already reduced to its median).
func (r *Report) set(key string, v float64) { r.values[key] = v }

func (r *Report) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// Get returns a figure (the median of its rounds).
func (r *Report) Get(key string) (float64, bool) {
	if v, ok := r.values[key]; ok {
		return v, true
	}
	if s, ok := r.rounds[key]; ok {
		return median(s), true
	}
	return 0, false
}

func (r *Report) ratio(key, num, den string) {
	n, ok1 := r.Get(num)
	d, ok2 := r.Get(den)
	if ok1 && ok2 && d > 0 {
		r.set(key, n/d)
	}
}

// finish derives the ratios to the floors.
func (r *Report) finish() {
	r.ratio("check_ratio_to_echo", "check_per_s", "floor_echo_per_s")
	r.ratio("check_p50_ratio_to_echo", "floor_echo_p50_us", "check_p50_us")
	r.ratio("commands_ratio_to_append", "commands_per_s", "floor_append_per_s")
	r.set("rounds", float64(r.cfg.Rounds))
	r.set("clients", float64(r.cfg.Clients))
	r.set("gomaxprocs", float64(runtime.GOMAXPROCS(0)))
	r.set("total_s", time.Since(r.start).Seconds())
}

// JSON is the report as one flat object of numbers, plus "notes" and "rounds_samples".
func (r *Report) JSON() ([]byte, error) {
	out := map[string]any{}
	for k := range r.values {
		v, _ := r.Get(k)
		out[k] = clean(v)
	}
	samples := map[string][]float64{}
	for k, s := range r.rounds {
		out[k] = clean(median(s))
		samples[k] = s
	}
	out["round_samples"] = samples
	out["notes"] = append([]string{}, r.notes...)
	return json.MarshalIndent(out, "", "  ")
}

func clean(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}

// Table writes the human table: figure, value, target, floor, ratio.
func (r *Report) Table(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "figure\tvalue\ttarget\tfloor (quiet)\tratio (goal)")
	fmt.Fprintln(tw, "------\t-----\t------\t-----\t------------")
	g := func(k string) (float64, bool) { return r.Get(k) }
	row := func(name, key, unit string, f func(float64) string, target, floorKey, ratioKey, goal string) {
		v, ok := g(key)
		if !ok {
			return
		}
		floor, ratio := "", ""
		if fv, ok := g(floorKey); ok && floorKey != "" {
			floor = f(fv) + unit
		}
		if rv, ok := g(ratioKey); ok && ratioKey != "" {
			ratio = fmt.Sprintf("%.2f", rv)
			if goal != "" {
				ratio += " (" + goal + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\t%s\n", name, f(v), unit, target, floor, ratio)
	}
	n0 := func(v float64) string { return thousands(v) }
	f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	f1 := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	c := r.cfg.Clients
	row(fmt.Sprintf("commands/s over NATS, durable, %d clients", c), "commands_per_s", "", n0, "≥ 20,000", "floor_append_per_s", "commands_ratio_to_append", "≥ 0.3")
	row("  command p99", "command_p99_ms", " ms", f2, "≤ 10 ms", "floor_append_p99_ms", "", "")
	row("  command p50", "command_p50_ms", " ms", f2, "", "", "", "")
	row(fmt.Sprintf("Check/s over NATS, %d clients", c), "check_per_s", "", n0, "≥ 50,000", "floor_echo_per_s", "check_ratio_to_echo", "≥ 0.6")
	row("  Check p50 at 1 client", "check_p50_us", " µs", f1, "≤ 150 µs", "floor_echo_p50_us", "check_p50_ratio_to_echo", "floor/value")
	row(fmt.Sprintf("  Check p99 at %d clients", c), "check_p99_ms_64", " ms", f2, "", "", "", "")
	row("Check in process (the view's own call, View.Check)", "check_inprocess_ns", " ns", f1, "≤ 1,000 ns", "", "", "")
	row("  evaluation without the cache (Org.Check)", "check_inprocess_uncached_ns", " ns", f1, "", "", "", "")
	row("freshness: reply → visible in Check, p99", "freshness_p99_ms", " ms", f2, "≤ 20 ms", "", "", "")
	row("  freshness p50", "freshness_p50_ms", " ms", f2, "", "", "", "")
	row("rebuild of a view from the log", "rebuild_events_per_s", " ev/s", n0, "≥ 500,000", "", "", "")
	memAt, _ := r.Get("memory_memberships")
	readyAt, _ := r.Get("ready_events")
	row(fmt.Sprintf("memory per membership (2 views), measured at %s", thousands(memAt)), "bytes_per_membership", " B", n0, "≤ 1,024 B", "", "", "")
	row("  one view's copy", "bytes_per_membership_view", " B", n0, "", "", "", "")
	row("rosterd's own RSS at rest after the load (separate process; median over 30 s)", "rosterd_rss_mib", " MiB", n0, "≤ 250 MiB", "", "", "")
	row("  largest sample at rest", "rosterd_rss_rest_max_mib", " MiB", n0, "", "", "", "")
	row("  anonymous (Go heap, stacks)", "rosterd_rss_anon_mib", " MiB", n0, "", "", "", "")
	row("  mapped files (Badger's value log, tables, WAL; the binary)", "rosterd_rss_file_mib", " MiB", n0, "", "", "", "")
	row("  its peak (VmHWM) during the load", "rosterd_hwm_mib", " MiB", n0, "", "", "", "")
	row("  peak after the 10,000-row imports", "rosterd_hwm_after_imports_mib", " MiB", n0, "", "", "", "")
	row("noisy neighbour: others' command p99 during a 10,000-row import", "noisy_command_p99_ms", " ms", f2, "", "quiet_command_p99_ms", "noisy_command_p99_ratio", "≤ 2")
	row("noisy neighbour: others' Check p99 during the import", "noisy_check_p99_ms", " ms", f2, "", "quiet_check_p99_ms", "noisy_check_p99_ratio", "≤ 2")
	row("  the 10,000-row import", "noisy_import_s", " s", f2, "", "", "", "")
	row("  others' longest command reply → visible (min_position) during the import", "noisy_visible_max_ms", " ms", f2, "≤ 2,000 ms (default wait_ms)", "quiet_visible_max_ms", "", "")
	row(fmt.Sprintf("start to ready, %s events, cold views", thousands(readyAt)), "ready_s", " s", f2, "≤ 5 s", "", "", "")
	row("  warm views (snapshot current)", "ready_warm_s", " s", f2, "", "", "", "")
	row("  first start (empty JetStream stream)", "ready_first_s", " s", f2, "", "", "", "")
	row("  relay republishing the log to JetStream", "relay_events_per_s", " ev/s", n0, "", "", "", "")
	row("load: commands/s building the data set", "load_commands_per_s", "", n0, "", "", "", "")
	row("  views drained after the commands phase", "commands_view_drain_ms", " ms", f1, "", "", "", "")
	row("log appends per fsync (commands phase)", "log_appends_per_sync", "", f1, "", "", "", "")
	row("machine load average at start (other processes)", "machine_load_avg_start", "", f2, "", "", "", "")
	row("machine load average at end", "machine_load_avg_end", "", f2, "", "", "", "")
	tw.Flush()
	if len(r.notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.notes {
			fmt.Fprintln(w, "note: "+n)
		}
	}
	var ks []string
	for k := range r.rounds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "rounds (median reported): ")
	var parts []string
	for _, k := range []string{"commands_per_s", "check_per_s", "floor_echo_per_s", "floor_append_per_s", "freshness_p99_ms"} {
		if s, ok := r.rounds[k]; ok {
			var vs []string
			for _, v := range s {
				vs = append(vs, fmt.Sprintf("%.4g", v))
			}
			parts = append(parts, k+"=["+strings.Join(vs, " ")+"]")
		}
	}
	fmt.Fprintln(w, strings.Join(parts, " "))
	_ = ks
}

func thousands(v float64) string {
	n := int64(math.Round(v))
	s := fmt.Sprintf("%d", n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
