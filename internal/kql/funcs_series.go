package kql

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// This file holds the functions over numeric series, dynamic arrays of numbers such as
// make-series and make_list produce: fitting, decomposition and anomaly scoring, statistics,
// filling of missing values and element-wise arithmetic; and the array helpers that
// time-series content uses beside them (range, array_sum, array_iff, array_reverse).
//
// An element that is null or not a number is missing. Element-wise functions answer null in
// its place; the statistical ones leave it out of what they learn from, as series_outliers
// documents for nulls, and still answer every position.

// outColumn is one of the columns a multi-column function returns in the cloud.
type outColumn struct {
	name string
	t    Type
}

// multiColumnFuncs names the columns of the functions that the cloud's engine expands into
// several columns (extend (a, b) = f(x), or f_x_<name> when unnamed). Here each of them
// returns one dynamic array holding those values in this order, and the *_dynamic variants
// a property bag with these names as keys.
var multiColumnFuncs = map[string][]outColumn{
	"series_fit_line": {{"rsquare", TypeReal}, {"slope", TypeReal}, {"variance", TypeReal},
		{"rvariance", TypeReal}, {"interception", TypeReal}, {"line_fit", TypeDynamic}},
	"series_fit_2lines": {{"rsquare", TypeReal}, {"split_idx", TypeLong}, {"variance", TypeReal},
		{"rvariance", TypeReal}, {"line_fit", TypeDynamic}, {"right_rsquare", TypeReal},
		{"right_slope", TypeReal}, {"right_interception", TypeReal}, {"right_variance", TypeReal},
		{"right_rvariance", TypeReal}, {"left_rsquare", TypeReal}, {"left_slope", TypeReal},
		{"left_interception", TypeReal}, {"left_variance", TypeReal}, {"left_rvariance", TypeReal}},
	"series_decompose": {{"baseline", TypeDynamic}, {"seasonal", TypeDynamic},
		{"trend", TypeDynamic}, {"residual", TypeDynamic}},
	"series_decompose_anomalies": {{"ad_flag", TypeDynamic}, {"ad_score", TypeDynamic},
		{"baseline", TypeDynamic}},
	"series_stats": {{"min", TypeReal}, {"min_idx", TypeLong}, {"max", TypeReal},
		{"max_idx", TypeLong}, {"avg", TypeReal}, {"stdev", TypeReal}, {"variance", TypeReal}},
	"series_periods_detect":   {{"periods", TypeDynamic}, {"scores", TypeDynamic}},
	"series_periods_validate": {{"periods", TypeDynamic}, {"scores", TypeDynamic}},
}

// asTuple reads an extend or project column as a tuple assignment when it is one, or when it
// calls a multi-column function without one, as the language reads it: one name is the tuple
// of that name (extend anomalies = series_decompose_anomalies(y) names the ad_flag column, the
// form published content uses most), no name the tuple of none (every column gets its derived
// name, series_decompose_anomalies_y_ad_flag and so on).
func asTuple(ne astNamedExpr) (astNamedExpr, bool) {
	if len(ne.Names) > 0 {
		return ne, true
	}
	call, ok := unparen(ne.X).(*astCall)
	if !ok || multiColumnFuncs[strings.ToLower(call.Name)] == nil {
		return ne, false
	}
	if ne.Name != "" {
		ne.Names = []string{ne.Name}
	}
	return ne, true
}

// maxRange is the most elements range() returns, as the cloud documents; longer ranges are cut.
const maxRange = 1 << 20

var (
	kBool   = argKind{TypeBool}
	kScalar = argKind{TypeInt, TypeLong, TypeReal, TypeBool, TypeString}
	kRange  = argKind{TypeInt, TypeLong, TypeReal, TypeDatetime, TypeTimespan}
	// an operand of the element-wise functions: a series, or a number standing for every element
	kOperand = argKind{TypeInt, TypeLong, TypeReal, TypeDynamic}
)

// registerSeriesFuncs adds this file's functions to the table built in funcs.go.
func registerSeriesFuncs(m map[string]fnSpec) {
	m["series_fit_line"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kArray), impl: func(a []any) any {
		return asArray(fitLine(a[0]))
	}}
	m["series_fit_line_dynamic"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kArray), impl: func(a []any) any {
		return asBag("series_fit_line", fitLine(a[0]))
	}}
	m["series_fit_2lines"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kArray), impl: func(a []any) any {
		return asArray(fit2Lines(a[0]))
	}}
	m["series_fit_2lines_dynamic"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kArray), impl: func(a []any) any {
		return fit2LinesBag(fit2Lines(a[0]))
	}}
	m["series_decompose"] = fnSpec{min: 1, max: 5, ret: decomposeType(1), impl: func(a []any) any {
		d, ok := decomposeArgs(a, 1)
		if !ok {
			return nil
		}
		return asArray(d.decompose(a[0]))
	}}
	m["series_decompose_anomalies"] = fnSpec{min: 1, max: 7, ret: decomposeType(2), impl: decomposeAnomalies}
	m["series_decompose_forecast"] = fnSpec{min: 2, max: 5, ret: forecastType, impl: decomposeForecast}
	m["series_periods_validate"] = fnSpec{min: 2, max: 17, ret: checked(TypeDynamic, kArray, kNumber), impl: periodsValidate}
	m["series_outliers"] = fnSpec{min: 1, max: 5, ret: outliersType, impl: seriesOutliers}
	m["series_periods_detect"] = fnSpec{min: 4, max: 4, ret: checked(TypeDynamic, kArray, kNumber, kNumber, kInteger), impl: periodsDetect}
	m["series_stats"] = fnSpec{min: 1, max: 2, ret: checked(TypeDynamic, kArray, kBool), impl: func(a []any) any {
		st, ok := seriesStatsOf(a)
		if !ok {
			return nil
		}
		return []any{st["min"], st["min_idx"], st["max"], st["max_idx"], st["avg"], st["stdev"], st["variance"]}
	}}
	m["series_stats_dynamic"] = fnSpec{min: 1, max: 2, ret: checked(TypeDynamic, kArray, kBool), impl: func(a []any) any {
		st, ok := seriesStatsOf(a)
		if !ok {
			return nil
		}
		return st
	}}

	m["series_fill_forward"] = fnSpec{min: 1, max: 2, ret: checked(TypeDynamic, kArray, kScalar), impl: func(a []any) any {
		return fillCarry(a[0], optArg(a, 1), false)
	}}
	m["series_fill_backward"] = fnSpec{min: 1, max: 2, ret: checked(TypeDynamic, kArray, kScalar), impl: func(a []any) any {
		return fillCarry(a[0], optArg(a, 1), true)
	}}
	m["series_fill_const"] = fnSpec{min: 2, max: 3, ret: checked(TypeDynamic, kArray, kScalar, kScalar), impl: fillConst}
	m["series_fill_linear"] = fnSpec{min: 1, max: 4, ret: checked(TypeDynamic, kArray, kScalar, kBool, kScalar), impl: fillLinear}

	for name, op := range seriesArith {
		m[name] = fnSpec{min: 2, max: 2, ret: checked(TypeDynamic, kOperand, kOperand), impl: elementWise(op)}
	}
	for name, op := range seriesCompare {
		m[name] = fnSpec{min: 2, max: 2, ret: checked(TypeDynamic, kOperand, kOperand), impl: elementWise(op)}
	}
	for name, f := range seriesMath {
		m[name] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kArray), impl: unaryElementWise(f)}
	}

	m["series_fir"] = fnSpec{min: 2, max: 4, ret: checked(TypeDynamic, kArray, kArray, kBool, kBool), impl: seriesFIR}
	m["series_iir"] = fnSpec{min: 3, max: 3, ret: checked(TypeDynamic, kArray, kArray, kArray), impl: seriesIIR}

	m["array_sum"] = fnSpec{min: 1, max: 1, ret: checked(TypeReal, kArray), impl: arraySum}
	m["array_reverse"] = fnSpec{min: 1, max: 1, ret: checked(TypeDynamic, kArray), impl: func(a []any) any {
		arr, ok := a[0].([]any)
		if !ok {
			return nil
		}
		out := slices.Clone(arr)
		slices.Reverse(out)
		return out
	}}
	m["array_iff"] = fnSpec{min: 3, max: 3, ret: checked(TypeDynamic, kArray, kScalar, kScalar), impl: arrayIff}
	m["array_iif"] = m["array_iff"]
	m["range"] = fnSpec{min: 2, max: 3, ret: rangeType, impl: rangeArray}
}

// series is a numeric array as the statistical functions read it: each element as a float64,
// with ok false where it is missing.
type series struct {
	v  []float64
	ok []bool
}

// readSeries reads a dynamic array; false when the value is not an array at all.
func readSeries(x any) (series, bool) {
	arr, isArr := x.([]any)
	if !isArr {
		return series{}, false
	}
	s := series{v: make([]float64, len(arr)), ok: make([]bool, len(arr))}
	for i, e := range arr {
		if f, ok := asReal(e); ok && !math.IsNaN(f) && !math.IsInf(f, 0) {
			s.v[i], s.ok[i] = f, true
		}
	}
	return s, true
}

// present returns the values that are not missing.
func (s series) present() []float64 {
	out := make([]float64, 0, len(s.v))
	for i, f := range s.v {
		if s.ok[i] {
			out = append(out, f)
		}
	}
	return out
}

func reals(fs []float64) []any {
	out := make([]any, len(fs))
	for i, f := range fs {
		out[i] = f
	}
	return out
}

// asArray turns a multi-column result into the dynamic array this engine returns for it; no
// result is null, where a nil slice inside the interface would render as an empty array.
func asArray(vals []any) any {
	if vals == nil {
		return nil
	}
	return vals
}

// asBag names the values of a multi-column result after the cloud's columns.
func asBag(fn string, vals []any) any {
	if vals == nil {
		return nil
	}
	cols := multiColumnFuncs[fn]
	m := make(map[string]any, len(cols))
	for i, c := range cols {
		m[c.name] = vals[i]
	}
	return m
}

func optArg(a []any, i int) any {
	if i < len(a) {
		return a[i]
	}
	return nil
}

// line is a least-squares line y = slope*x + interception over x = 1..n, as the cloud fits a
// series, with the fit's quality measures.
type line struct {
	rsquare, slope, interception, variance, rvariance float64
}

// fitPoints fits a line through the present points of s at positions lo..hi-1; x counts from 1
// at lo. Variances divide by the number of points less one, as the cloud's series_fit_line
// reports them.
func fitPoints(s series, lo, hi int) (line, bool) {
	var n, sx, sy, sxx, sxy float64
	for i := lo; i < hi; i++ {
		if !s.ok[i] {
			continue
		}
		x := float64(i - lo + 1)
		n++
		sx, sy, sxx, sxy = sx+x, sy+s.v[i], sxx+x*x, sxy+x*s.v[i]
	}
	if n == 0 {
		return line{}, false
	}
	var l line
	if d := n*sxx - sx*sx; d != 0 {
		l.slope = (n*sxy - sx*sy) / d
	}
	l.interception = (sy - l.slope*sx) / n
	mean := sy / n
	var sst, sse float64
	for i := lo; i < hi; i++ {
		if !s.ok[i] {
			continue
		}
		f := l.at(i - lo + 1)
		sst += (s.v[i] - mean) * (s.v[i] - mean)
		sse += (s.v[i] - f) * (s.v[i] - f)
	}
	l.rsquare = 1
	if sst > 0 {
		l.rsquare = 1 - sse/sst
	}
	if n > 1 {
		l.variance, l.rvariance = sst/(n-1), sse/(n-1)
	}
	return l, true
}

func (l line) at(x int) float64 { return l.slope*float64(x) + l.interception }

// fitLine is series_fit_line: [rsquare, slope, variance, rvariance, interception, line_fit].
func fitLine(x any) []any {
	s, ok := readSeries(x)
	if !ok {
		return nil
	}
	l, ok := fitPoints(s, 0, len(s.v))
	if !ok {
		return nil
	}
	fit := make([]float64, len(s.v))
	for i := range fit {
		fit[i] = l.at(i + 1)
	}
	return []any{l.rsquare, l.slope, l.variance, l.rvariance, l.interception, reals(fit)}
}

// fit2Lines is series_fit_2lines: every split point is tried, a line fitted on each side, and
// the split whose two lines leave the least residual, so explain the most of the series'
// variance, wins. Running sums make each try O(1), so a long series costs O(n). The right
// line's x counts from 1 again at the split, as each side is fitted as a series of its own.
func fit2Lines(x any) []any {
	s, ok := readSeries(x)
	if !ok || len(s.present()) < 4 {
		return nil
	}
	n := len(s.v)
	total := make([]sums, n+1) // total[i]: the sums over positions before i
	for i, f := range s.v {
		total[i+1] = total[i]
		if s.ok[i] {
			total[i+1].add(float64(i+1), f)
		}
	}
	best, bestSSE := -1, math.Inf(1)
	for split := 2; split <= n-2; split++ {
		l, r := total[split], total[n].minus(total[split])
		if l.n == 0 || r.n == 0 {
			continue
		}
		if sse := l.sse() + r.sse(); sse < bestSSE {
			best, bestSSE = split, sse
		}
	}
	if best < 0 {
		return nil
	}
	all, _ := fitPoints(s, 0, n)
	left, _ := fitPoints(s, 0, best)
	right, _ := fitPoints(s, best, n)
	fit := make([]float64, n)
	for i := range fit {
		if i < best {
			fit[i] = left.at(i + 1)
		} else {
			fit[i] = right.at(i - best + 1)
		}
	}
	var sse, cnt float64
	for i, f := range fit {
		if s.ok[i] {
			sse, cnt = sse+(s.v[i]-f)*(s.v[i]-f), cnt+1
		}
	}
	return []any{rsquareOf(s, fit), int64(best), all.variance, sse / (cnt - 1), reals(fit),
		right.rsquare, right.slope, right.interception, right.variance, right.rvariance,
		left.rsquare, left.slope, left.interception, left.variance, left.rvariance}
}

// sums are the running sums a least-squares line is fitted from.
type sums struct{ n, x, y, xx, xy, yy float64 }

func (a *sums) add(x, y float64) {
	a.n, a.x, a.y, a.xx, a.xy, a.yy = a.n+1, a.x+x, a.y+y, a.xx+x*x, a.xy+x*y, a.yy+y*y
}

func (a sums) minus(b sums) sums {
	return sums{a.n - b.n, a.x - b.x, a.y - b.y, a.xx - b.xx, a.xy - b.xy, a.yy - b.yy}
}

// sse is the squared residual the best line through the points leaves; shifting x, as the
// right side's fit does, does not change it.
func (a sums) sse() float64 {
	sxx, sxy, syy := a.xx-a.x*a.x/a.n, a.xy-a.x*a.y/a.n, a.yy-a.y*a.y/a.n
	if sxx <= 0 {
		return max(syy, 0)
	}
	return max(syy-sxy*sxy/sxx, 0)
}

// fit2LinesBag is series_fit_2lines_dynamic: the sides' measures nest under right and left.
func fit2LinesBag(vals []any) any {
	if vals == nil {
		return nil
	}
	side := func(off int) map[string]any {
		return map[string]any{"rsquare": vals[off], "slope": vals[off+1], "interception": vals[off+2],
			"variance": vals[off+3], "rvariance": vals[off+4]}
	}
	return map[string]any{"rsquare": vals[0], "split_idx": vals[1], "variance": vals[2],
		"rvariance": vals[3], "line_fit": vals[4], "right": side(5), "left": side(10)}
}

func rsquareOf(s series, fit []float64) float64 {
	var sum, n float64
	for i, f := range s.v {
		if s.ok[i] {
			sum, n = sum+f, n+1
		}
	}
	mean := sum / n
	var sst, sse float64
	for i, f := range s.v {
		if s.ok[i] {
			sst += (f - mean) * (f - mean)
			sse += (f - fit[i]) * (f - fit[i])
		}
	}
	if sst == 0 {
		return 1
	}
	return 1 - sse/sst
}

// decomposition holds the arguments series_decompose and series_decompose_anomalies share.
type decomposition struct {
	seasonality int64   // -1 detect, 0 none, else the period in bins
	trend       string  // avg, linefit or none
	testPoints  int64   // points at the end left out of learning
	threshold   float64 // seasonality score a detected period needs
}

var trendKinds = []string{"avg", "linefit", "none"}

// decomposeArgs reads the optional arguments from position off on, in the documented order
// seasonality, trend, test points; series_decompose_anomalies has its AD method between test
// points and the seasonality threshold, series_decompose none.
func decomposeArgs(a []any, off int) (decomposition, bool) {
	d := decomposition{seasonality: -1, trend: "avg", threshold: 0.6}
	if v := optArg(a, off); v != nil {
		n, ok := v.(int64)
		if !ok || n < -1 {
			return d, false
		}
		d.seasonality = n
	}
	if v := optArg(a, off+1); v != nil {
		d.trend = strings.ToLower(str(v))
		if !slices.Contains(trendKinds, d.trend) {
			return d, false
		}
	}
	if v := optArg(a, off+2); v != nil {
		n, ok := v.(int64)
		if !ok || n < 0 {
			return d, false
		}
		d.testPoints = n
	}
	thresholdAt := off + 3
	if off == 2 {
		thresholdAt = off + 4 // after AD_method
	}
	if v := optArg(a, thresholdAt); v != nil {
		f, ok := asReal(v)
		if !ok {
			return d, false
		}
		d.threshold = f
	}
	return d, true
}

// decomposeType checks the arguments of series_decompose (off 1) and
// series_decompose_anomalies (off 2, after the threshold), and the constant ones' values.
func decomposeType(off int) func([]cexpr) (Type, error) {
	return func(cs []cexpr) (Type, error) {
		kinds := []argKind{kArray}
		if off == 2 {
			kinds = append(kinds, kNumber)
		}
		kinds = append(kinds, kInteger, kString, kInteger)
		if off == 2 {
			kinds = append(kinds, kString)
		}
		kinds = append(kinds, kNumber)
		if len(cs) > len(kinds) {
			return TypeNull, fmt.Errorf("expects at most %d arguments", len(kinds))
		}
		if err := checkArgs(cs, kinds); err != nil {
			return TypeNull, err
		}
		if err := constOneOf(cs, off+1, "trend", trendKinds); err != nil {
			return TypeNull, err
		}
		if off == 2 {
			if err := constOneOf(cs, off+3, "AD method", adMethods); err != nil {
				return TypeNull, err
			}
		}
		return TypeDynamic, nil
	}
}

// constOneOf refuses a constant string argument at i that is none of the values allowed.
func constOneOf(cs []cexpr, i int, what string, allowed []string) error {
	if i >= len(cs) || !cs[i].konst || cs[i].t != TypeString {
		return nil
	}
	v, _ := cs[i].value().(string)
	if !slices.Contains(allowed, strings.ToLower(v)) {
		return fmt.Errorf("%s must be one of %s, not %q", what, strings.Join(allowed, ", "), v)
	}
	return nil
}

// decomposed is a series split into its components; missing input points have a baseline but
// no residual.
type decomposed struct {
	baseline, seasonal, trend, residual []float64
	ok                                  []bool
	train                               int // the points learnt from: all but the test points
}

// decompose is series_decompose: [baseline, seasonal, trend, residual].
func (d decomposition) decompose(x any) []any {
	s, ok := readSeries(x)
	if !ok {
		return nil
	}
	c, ok := d.split(s)
	if !ok {
		return nil
	}
	res := make([]any, len(s.v))
	for i := range res {
		if c.ok[i] {
			res[i] = c.residual[i]
		}
	}
	return []any{reals(c.baseline), reals(c.seasonal), reals(c.trend), res}
}

// split decomposes s as the cloud documents: the seasonal component is, for each phase of the
// period, the median of the learnt points in that phase; the trend is extracted from the
// series less its seasonal component (its average, or a least-squares line); baseline is
// seasonal plus trend and residual what is left. Test points at the end take no part in
// learning but get the components extended over them, as a forecast.
func (d decomposition) split(s series) (decomposed, bool) {
	n := len(s.v)
	train := n - int(d.testPoints)
	if train < 1 || d.testPoints >= int64(n) {
		return decomposed{}, false
	}
	c := decomposed{baseline: make([]float64, n), seasonal: make([]float64, n), trend: make([]float64, n),
		residual: make([]float64, n), ok: s.ok, train: train}
	learn := series{v: s.v[:train], ok: s.ok[:train]}
	period := int(d.seasonality)
	if period < 0 {
		period = 0
		if ps, scores := detectPeriods(learn, 4, float64(train)/2, 1); len(ps) > 0 && scores[0] >= d.threshold {
			period = ps[0]
		}
	}
	if period > 0 && period < train {
		phase := make([][]float64, period)
		for i := range train {
			if s.ok[i] {
				phase[i%period] = append(phase[i%period], s.v[i])
			}
		}
		medians := make([]float64, period)
		for k, vals := range phase {
			medians[k] = median(vals)
		}
		for i := range n {
			c.seasonal[i] = medians[i%period]
		}
	}
	deseason := series{v: make([]float64, train), ok: s.ok[:train]}
	for i := range train {
		deseason.v[i] = s.v[i] - c.seasonal[i]
	}
	switch d.trend {
	case "avg":
		if vals := deseason.present(); len(vals) > 0 {
			avg := mean(vals)
			for i := range c.trend {
				c.trend[i] = avg
			}
		}
	case "linefit":
		if l, ok := fitPoints(deseason, 0, train); ok {
			for i := range c.trend {
				c.trend[i] = l.at(i + 1)
			}
		}
	}
	for i := range n {
		c.baseline[i] = c.seasonal[i] + c.trend[i]
		c.residual[i] = s.v[i] - c.baseline[i]
	}
	return c, true
}

var adMethods = []string{"ctukey", "tukey"}

// decomposeAnomalies is series_decompose_anomalies: the series is decomposed, its residuals
// scored with series_outliers' Tukey test, and points whose score passes the threshold flagged
// +1 (up) or -1 (down). Returns [ad_flag, ad_score, baseline].
func decomposeAnomalies(a []any) any {
	s, ok := readSeries(a[0])
	if !ok {
		return nil
	}
	k := 1.5
	if v := optArg(a, 1); v != nil {
		if k, ok = asReal(v); !ok {
			return nil
		}
	}
	d, ok := decomposeArgs(a, 2)
	if !ok {
		return nil
	}
	method := "ctukey"
	if v := optArg(a, 5); v != nil {
		method = strings.ToLower(str(v))
	}
	lo, hi, ok := tukeyRange(method, nil, nil)
	if !ok {
		return nil
	}
	c, ok := d.split(s)
	if !ok {
		return nil
	}
	resid := series{v: c.residual, ok: c.ok}
	scores := outlierScores(resid, series{v: c.residual[:c.train], ok: c.ok[:c.train]}, lo, hi)
	flags := make([]any, len(scores))
	for i, sc := range scores {
		switch {
		case sc > k:
			flags[i] = int64(1)
		case sc < -k:
			flags[i] = int64(-1)
		default:
			flags[i] = int64(0)
		}
	}
	return []any{flags, reals(scores), reals(c.baseline)}
}

func forecastType(cs []cexpr) (Type, error) {
	if err := checkArgs(cs, []argKind{kArray, kInteger, kInteger, kString, kNumber}); err != nil {
		return TypeNull, err
	}
	if err := constOneOf(cs, 3, "trend", trendKinds); err != nil {
		return TypeNull, err
	}
	return TypeDynamic, nil
}

// decomposeForecast is series_decompose_forecast(series, points[, seasonality, trend,
// seasonality_threshold]): the baseline of series_decompose with the last points left out of
// learning, so that over them it is the forecast.
func decomposeForecast(a []any) any {
	s, ok := readSeries(a[0])
	points, okP := a[1].(int64)
	if !ok || !okP || points < 0 {
		return nil
	}
	// series_decompose's arguments, the points in test_points' place
	d, ok := decomposeArgs([]any{a[0], optArg(a, 2), optArg(a, 3), points, optArg(a, 4)}, 1)
	if !ok {
		return nil
	}
	c, ok := d.split(s)
	if !ok {
		return nil
	}
	return reals(c.baseline)
}

// tukeyRange is the percentile range of an outlier test: the quartiles for tukey, 10 to 90
// (or the range asked for, within 2 to 98) for ctukey.
func tukeyRange(kind string, minP, maxP any) (lo, hi float64, ok bool) {
	switch kind {
	case "tukey":
		return 25, 75, true
	case "ctukey":
		lo, hi = 10, 90
		if minP != nil {
			if lo, ok = asReal(minP); !ok {
				return 0, 0, false
			}
		}
		if maxP != nil {
			if hi, ok = asReal(maxP); !ok {
				return 0, 0, false
			}
		}
		return lo, hi, lo >= 2 && hi <= 98 && lo < hi
	}
	return 0, 0, false
}

func outliersType(cs []cexpr) (Type, error) {
	if err := checkArgs(cs, []argKind{kArray, kString, kNumber, kNumber, kNumber}); err != nil {
		return TypeNull, err
	}
	if err := constOneOf(cs, 1, "kind", adMethods); err != nil {
		return TypeNull, err
	}
	return TypeDynamic, nil
}

// seriesOutliers is series_outliers(series, kind, ignore_val, min_percentile, max_percentile).
func seriesOutliers(a []any) any {
	s, ok := readSeries(a[0])
	if !ok {
		return nil
	}
	kind := "ctukey"
	if v := optArg(a, 1); v != nil {
		kind = strings.ToLower(str(v))
	}
	lo, hi, ok := tukeyRange(kind, optArg(a, 3), optArg(a, 4))
	if !ok {
		return nil
	}
	if ignore, isNum := asReal(optArg(a, 2)); isNum {
		for i, f := range s.v {
			if f == ignore {
				s.ok[i] = false
			}
		}
	}
	return reals(outlierScores(s, s, lo, hi))
}

// z is the standard normal distribution's quantile at percentile p.
func z(p float64) float64 { return math.Sqrt2 * math.Erfinv(2*p/100-1) }

// outlierScores scores each point of s against the percentiles lo and hi of the points of
// learn: 0 between them, beyond them the distance from the nearer one in units of the range
// between them, positive above and negative below, so that Tukey's fences with factor k are
// the scores ±k. A range other than the quartiles is first scaled to the width the quartiles
// would have under a normal distribution (the "normal inter-quantile range"), so that the same
// k means about as much whatever the range. When learn's range is empty, its standard
// deviation stands in, so that one spike on a flat series scores instead of dividing by zero.
// Missing points score 0.
func outlierScores(s, learn series, lo, hi float64) []float64 {
	out := make([]float64, len(s.v))
	vals := learn.present()
	if len(vals) == 0 {
		return out
	}
	slices.Sort(vals)
	qlo, qhi := percentile(vals, lo), percentile(vals, hi)
	width := (qhi - qlo) * (z(75) - z(25)) / (z(hi) - z(lo))
	if width == 0 {
		width = stdev(vals)
	}
	if width == 0 {
		return out
	}
	for i, f := range s.v {
		switch {
		case !s.ok[i]:
		case f > qhi:
			out[i] = (f - qhi) / width
		case f < qlo:
			out[i] = (f - qlo) / width
		}
	}
	return out
}

// percentile interpolates linearly between the closest ranks of sorted.
func percentile(sorted []float64, p float64) float64 {
	pos := p / 100 * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	return sorted[i] + (pos-float64(i))*(sorted[i+1]-sorted[i])
}

func median(vals []float64) float64 {
	if len(vals) == 0 {
		return 0
	}
	sorted := slices.Clone(vals)
	slices.Sort(sorted)
	return percentile(sorted, 50)
}

func mean(vals []float64) float64 {
	var sum float64
	for _, f := range vals {
		sum += f
	}
	return sum / float64(len(vals))
}

// stdev is the sample standard deviation.
func stdev(vals []float64) float64 {
	if len(vals) < 2 {
		return 0
	}
	m := mean(vals)
	var ss float64
	for _, f := range vals {
		ss += (f - m) * (f - m)
	}
	return math.Sqrt(ss / float64(len(vals)-1))
}

// periodsDetect is series_periods_detect(series, min_period, max_period, num_periods):
// [periods, scores], each num_periods long, padded with zeros; null for a num_periods below 0
// or longer than the series, which cannot have that many periods.
func periodsDetect(a []any) any {
	s, ok := readSeries(a[0])
	minP, ok1 := asReal(a[1])
	maxP, ok2 := asReal(a[2])
	num, ok3 := a[3].(int64)
	if !ok || !ok1 || !ok2 || !ok3 || num < 0 || num > int64(len(s.v)) {
		return nil
	}
	ps, scores := detectPeriods(s, minP, maxP, int(num))
	periods, scored := make([]any, num), make([]any, num)
	for i := range periods {
		periods[i], scored[i] = 0.0, 0.0
		if i < len(ps) {
			periods[i], scored[i] = float64(ps[i]), scores[i]
		}
	}
	return []any{periods, scored}
}

// periodsValidate is series_periods_validate(series, period1[, period2, ...]): [periods,
// scores], each period scored from 0 to 1 as detectPeriods scores them (a period rounds to
// whole bins; one outside 4 points to half the series scores 0).
func periodsValidate(a []any) any {
	s, ok := readSeries(a[0])
	if !ok {
		return nil
	}
	periods := make([]any, 0, len(a)-1)
	lags := make([]int, 0, len(a)-1)
	maxLag := 0
	for _, v := range a[1:] {
		p, ok := asReal(v)
		if !ok {
			return nil
		}
		periods = append(periods, p)
		lag := int(math.Round(p))
		if lag < 4 || lag > len(s.v)/2 {
			lag = 0
		}
		lags, maxLag = append(lags, lag), max(maxLag, lag)
	}
	corr := detrendedCorrelations(s, maxLag)
	scores := make([]any, len(lags))
	for i, lag := range lags {
		scores[i] = 0.0
		if lag > 0 && corr != nil {
			scores[i] = max(corr[lag], 0)
		}
	}
	return []any{periods, scores}
}

// detectPeriods finds up to num periods of s between minP and maxP bins (at least 4 points, at
// most half the series), best first. A period's score is the correlation of the series with
// itself shifted by the period, from 0 to 1; only peaks of that correlation count, and a
// multiple of a period already found is not another one. This stands in for the cloud's
// spectral method: it finds the same dominant periods, with scores of the same meaning but
// not the same digits.
func detectPeriods(s series, minP, maxP float64, num int) ([]int, []float64) {
	n := len(s.v)
	lo, hi := max(4, int(math.Ceil(minP))), min(n/2, int(math.Floor(maxP)))
	if lo > hi || num == 0 {
		return nil, nil
	}
	corr := detrendedCorrelations(s, hi+1)
	if corr == nil {
		return nil, nil
	}
	type cand struct {
		p     int
		score float64
	}
	var cands []cand
	peaks := map[int]float64{}
	for p := lo; p <= hi; p++ {
		if corr[p] > 0 && corr[p] >= corr[p-1] && corr[p] >= corr[p+1] {
			cands = append(cands, cand{p, corr[p]})
			peaks[p] = corr[p]
		}
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return a.p - b.p
	})
	var ps []int
	var scores []float64
	for _, c := range cands {
		if len(ps) == num {
			break
		}
		// a series of period p correlates at 2p and 3p almost as well: the shortest period
		// whose multiple c is, and that scores nearly as high, is the one found
		c.p = shortestBase(c.p, c.score, peaks)
		c.score = peaks[c.p]
		if slices.ContainsFunc(ps, func(p int) bool { return c.p%p == 0 }) {
			continue
		}
		ps, scores = append(ps, c.p), append(scores, c.score)
	}
	return ps, scores
}

// detrendedCorrelations are the lag correlations of s around its least-squares line, for lags
// up to maxLag: a trend correlates with itself at every lag, so periods are looked for around
// it. Nil when s is nothing but a line, which has no period.
func detrendedCorrelations(s series, maxLag int) []float64 {
	l, ok := fitPoints(s, 0, len(s.v))
	if !ok || l.rvariance <= 1e-12*max(1, l.variance) {
		return nil
	}
	d := make([]float64, len(s.v)) // missing points are 0: they add nothing to any lag
	for i, f := range s.v {
		if s.ok[i] {
			d[i] = f - l.at(i+1)
		}
	}
	return lagCorrelations(d, maxLag)
}

// shortestBase is the shortest period that divides p and whose peak scores at least 90% of
// score: p itself when there is none.
func shortestBase(p int, score float64, peaks map[int]float64) int {
	best := p
	for q := 1; q*q <= p; q++ {
		if p%q != 0 {
			continue
		}
		for _, d := range [2]int{q, p / q} {
			if d < best && peaks[d] >= 0.9*score {
				best = d
			}
		}
	}
	return best
}

// lagCorrelations is, for each lag up to maxLag, the correlation of d with itself shifted by
// the lag: the sum of the products of the overlapping points over the root of the product of
// their sums of squares. The products for every lag come from one FFT, so a long series costs
// O(n log n) rather than O(n × lags).
func lagCorrelations(d []float64, maxLag int) []float64 {
	n := len(d)
	size := 1
	for size < 2*n {
		size <<= 1
	}
	f := make([]complex128, size)
	for i, v := range d {
		f[i] = complex(v, 0)
	}
	fft(f, false)
	for i, c := range f {
		f[i] = complex(real(c)*real(c)+imag(c)*imag(c), 0)
	}
	fft(f, true)
	sq := make([]float64, n+1) // sq[i]: the sum of squares of d before i
	for i, v := range d {
		sq[i+1] = sq[i] + v*v
	}
	corr := make([]float64, maxLag+1)
	for lag := 1; lag <= maxLag && lag < n; lag++ {
		head, tail := sq[n-lag], sq[n]-sq[lag]
		if head > 0 && tail > 0 {
			corr[lag] = real(f[lag]) / float64(size) / math.Sqrt(head*tail)
		}
	}
	return corr
}

// fft transforms a in place (its length a power of two), or inverts the transform but for the
// division by the length.
func fft(a []complex128, inverse bool) {
	n := len(a)
	for i, j := 1, 0; i < n; i++ {
		bit := n >> 1
		for ; j&bit != 0; bit >>= 1 {
			j ^= bit
		}
		j ^= bit
		if i < j {
			a[i], a[j] = a[j], a[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		angle := 2 * math.Pi / float64(size)
		if !inverse {
			angle = -angle
		}
		step := complex(math.Cos(angle), math.Sin(angle))
		for start := 0; start < n; start += size {
			w := complex(1, 0)
			for k := range size / 2 {
				u, v := a[start+k], a[start+k+size/2]*w
				a[start+k], a[start+k+size/2] = u+v, u-v
				w *= step
			}
		}
	}
}

// seriesStatsOf computes series_stats_dynamic's bag: min, min_idx, max, max_idx, avg,
// variance, stdev (sample), sum and len. A missing element makes every statistic but len null
// unless ignore_nonfinite is true, as the cloud documents.
func seriesStatsOf(a []any) (map[string]any, bool) {
	s, ok := readSeries(a[0])
	if !ok {
		return nil, false
	}
	ignore, _ := optArg(a, 1).(bool)
	st := map[string]any{"min": nil, "min_idx": nil, "max": nil, "max_idx": nil, "avg": nil,
		"variance": nil, "stdev": nil, "sum": nil, "len": int64(len(s.v))}
	vals := s.present()
	if len(vals) == 0 || (!ignore && len(vals) < len(s.v)) {
		return st, true
	}
	minI, maxI := -1, -1
	for i, f := range s.v {
		if !s.ok[i] {
			continue
		}
		if minI < 0 || f < s.v[minI] {
			minI = i
		}
		if maxI < 0 || f > s.v[maxI] {
			maxI = i
		}
	}
	sd := stdev(vals)
	var sum float64
	for _, f := range vals {
		sum += f
	}
	st["min"], st["min_idx"], st["max"], st["max_idx"] = s.v[minI], int64(minI), s.v[maxI], int64(maxI)
	st["avg"], st["stdev"], st["variance"], st["sum"] = mean(vals), sd, sd*sd, sum
	return st, true
}

// isPlaceholder tells a missing element: one equal to the placeholder, or with no placeholder
// given (null) one that is null or not a number.
func isPlaceholder(e, placeholder any) bool {
	if placeholder == nil {
		_, isNum := asReal(e)
		return !isNum
	}
	f, isNum := asReal(e)
	p, _ := asReal(placeholder)
	return isNum && f == p
}

// fillCarry is series_fill_forward (and, backward, series_fill_backward): each missing element
// takes the last value before it; those before any value stay.
func fillCarry(x, placeholder any, backward bool) any {
	arr, ok := x.([]any)
	if !ok {
		return nil
	}
	out := slices.Clone(arr)
	var last any
	have := false
	for k := range out {
		i := k
		if backward {
			i = len(out) - 1 - k
		}
		if isPlaceholder(out[i], placeholder) {
			if have {
				out[i] = last
			}
			continue
		}
		last, have = out[i], true
	}
	return out
}

// fillConst is series_fill_const(series, constant_value, missing_value_placeholder).
func fillConst(a []any) any {
	arr, ok := a[0].([]any)
	if !ok {
		return nil
	}
	out := slices.Clone(arr)
	for i, e := range out {
		if isPlaceholder(e, optArg(a, 2)) {
			out[i] = dynValue(a[1])
		}
	}
	return out
}

// fillLinear is series_fill_linear(series, missing_value_placeholder, fill_edges,
// constant_value): runs of missing elements between two values are interpolated on the line
// between them, rounded when every value of the series is a long; runs at the edges take the
// nearest value unless fill_edges is false; a series with no value at all is filled with
// constant_value (0 by default; null keeps it as it is).
func fillLinear(a []any) any {
	arr, ok := a[0].([]any)
	if !ok {
		return nil
	}
	placeholder := optArg(a, 1)
	edges := true
	if v, isBool := optArg(a, 2).(bool); isBool {
		edges = v
	}
	constant := any(int64(0))
	if len(a) > 3 {
		constant = a[3]
	}
	out := slices.Clone(arr)
	var known []int
	ints := true
	for i, e := range out {
		if isPlaceholder(e, placeholder) {
			continue
		}
		if _, isNum := asReal(e); isNum {
			known = append(known, i)
			_, isLong := e.(int64)
			ints = ints && isLong
		}
	}
	if len(known) == 0 {
		if constant != nil {
			for i, e := range out {
				if isPlaceholder(e, placeholder) {
					out[i] = dynValue(constant)
				}
			}
		}
		return out
	}
	value := func(f float64) any {
		if ints {
			return int64(math.Round(f))
		}
		return f
	}
	for k := 1; k < len(known); k++ {
		i, j := known[k-1], known[k]
		vi, _ := asReal(out[i])
		vj, _ := asReal(out[j])
		for m := i + 1; m < j; m++ {
			if isPlaceholder(out[m], placeholder) {
				out[m] = value(vi + (vj-vi)*float64(m-i)/float64(j-i))
			}
		}
	}
	if edges {
		first, last := known[0], known[len(known)-1]
		for m := range first {
			if isPlaceholder(out[m], placeholder) {
				out[m] = out[first]
			}
		}
		for m := last + 1; m < len(out); m++ {
			if isPlaceholder(out[m], placeholder) {
				out[m] = out[last]
			}
		}
	}
	return out
}

// numOp is an element-wise operation on two numbers; longs tells that both were longs.
type numOp func(x, y float64, xi, yi int64, longs bool) any

var seriesArith = map[string]numOp{
	"series_add": func(x, y float64, xi, yi int64, longs bool) any {
		if longs {
			return xi + yi
		}
		return x + y
	},
	"series_subtract": func(x, y float64, xi, yi int64, longs bool) any {
		if longs {
			return xi - yi
		}
		return x - y
	},
	"series_multiply": func(x, y float64, xi, yi int64, longs bool) any {
		if longs {
			return xi * yi
		}
		return x * y
	},
	// the quotient is always real, so 1/0 is +Infinity, as the cloud documents
	"series_divide": func(x, y float64, _, _ int64, _ bool) any { return x / y },
	"series_pow":    func(x, y float64, _, _ int64, _ bool) any { return math.Pow(x, y) },
}

var seriesCompare = map[string]numOp{
	"series_greater":        func(x, y float64, _, _ int64, _ bool) any { return x > y },
	"series_greater_equals": func(x, y float64, _, _ int64, _ bool) any { return x >= y },
	"series_less":           func(x, y float64, _, _ int64, _ bool) any { return x < y },
	"series_less_equals":    func(x, y float64, _, _ int64, _ bool) any { return x <= y },
	"series_equals":         func(x, y float64, _, _ int64, _ bool) any { return x == y },
	"series_not_equals":     func(x, y float64, _, _ int64, _ bool) any { return x != y },
}

// elementWise applies op to the elements at the same position of two series; a number instead
// of either series stands for every position. The result is as long as the longer series; an
// element missing on either side, or beyond the shorter series' end, is null.
func elementWise(op numOp) func([]any) any {
	return func(a []any) any {
		xs, xArr := a[0].([]any)
		ys, yArr := a[1].([]any)
		if !xArr && !yArr {
			return nil
		}
		n := max(len(xs), len(ys))
		elem := func(v any, arr []any, isArr bool, i int) any {
			if !isArr {
				return v
			}
			if i < len(arr) {
				return arr[i]
			}
			return nil
		}
		out := make([]any, n)
		for i := range out {
			x, y := elem(a[0], xs, xArr, i), elem(a[1], ys, yArr, i)
			xf, okX := asReal(x)
			yf, okY := asReal(y)
			if !okX || !okY {
				continue
			}
			xi, xLong := x.(int64)
			yi, yLong := y.(int64)
			out[i] = op(xf, yf, xi, yi, xLong && yLong)
		}
		return out
	}
}

// seriesMath are the element-wise functions of one series, given each number; abs and sign
// keep longs longs, the others answer reals.
var seriesMath = map[string]func(v any) any{
	"series_abs": func(v any) any {
		if i, ok := v.(int64); ok {
			if i < 0 {
				return -i
			}
			return i
		}
		f, _ := asReal(v)
		return math.Abs(f)
	},
	"series_sign": func(v any) any {
		if i, ok := v.(int64); ok {
			return int64(min(max(i, -1), 1))
		}
		f, _ := asReal(v)
		switch {
		case f > 0:
			return 1.0
		case f < 0:
			return -1.0
		}
		return 0.0
	},
	"series_ceiling": realMath(math.Ceil),
	"series_floor":   realMath(math.Floor),
	"series_exp":     realMath(math.Exp),
	"series_log":     realMath(math.Log),
	"series_sin":     realMath(math.Sin),
	"series_cos":     realMath(math.Cos),
	"series_tan":     realMath(math.Tan),
	"series_asin":    realMath(math.Asin),
	"series_acos":    realMath(math.Acos),
	"series_atan":    realMath(math.Atan),
}

func realMath(f func(float64) float64) func(any) any {
	return func(v any) any {
		x, _ := asReal(v)
		return f(x)
	}
}

// unaryElementWise applies f to each number of a series; other elements become null.
func unaryElementWise(f func(any) any) func([]any) any {
	return func(a []any) any {
		arr, ok := a[0].([]any)
		if !ok {
			return nil
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			if _, isNum := asReal(e); isNum {
				out[i] = f(e)
			}
		}
		return out
	}
}

// coefficients reads a filter's coefficients: every element must be a number.
func coefficients(v any) ([]float64, bool) {
	s, ok := readSeries(v)
	if !ok || len(s.v) == 0 || slices.Contains(s.ok, false) {
		return nil, false
	}
	return s.v, true
}

// seriesFIR is series_fir(series, filter[, normalize[, center]]): y[n] = Σ f[k]·x[n-k], over
// the points before n (or, centered, around it), points beyond the series' ends and missing
// ones counting as 0. The filter is divided by the sum of its coefficients unless normalize
// is false, which it is by default for a filter with a negative coefficient; asked to
// normalize such a filter, or one summing to 0, the result is null, as the cloud documents.
func seriesFIR(a []any) any {
	s, ok := readSeries(a[0])
	f, okF := coefficients(a[1])
	if !ok || !okF {
		return nil
	}
	negative := slices.ContainsFunc(f, func(c float64) bool { return c < 0 })
	normalize := !negative
	if v, given := optArg(a, 2).(bool); given {
		normalize = v
	}
	center, _ := optArg(a, 3).(bool)
	if normalize {
		var sum float64
		for _, c := range f {
			sum += c
		}
		if negative || sum == 0 {
			return nil
		}
		f = slices.Clone(f)
		for k := range f {
			f[k] /= sum
		}
	}
	shift := 0
	if center {
		shift = (len(f) - 1) / 2
	}
	out := make([]float64, len(s.v))
	for n := range out {
		for k, c := range f {
			if i := n + shift - k; i >= 0 && i < len(s.v) && s.ok[i] {
				out[n] += c * s.v[i]
			}
		}
	}
	return reals(out)
}

// seriesIIR is series_iir(series, numerators, denominators): the recursive filter
// y[n] = (Σ b[i]·x[n-i] − Σ a[j]·y[n-j], j ≥ 1) / a[0], missing points counting as 0; null
// when a[0] is 0.
func seriesIIR(a []any) any {
	s, ok := readSeries(a[0])
	b, okB := coefficients(a[1])
	den, okA := coefficients(a[2])
	if !ok || !okB || !okA || den[0] == 0 {
		return nil
	}
	out := make([]float64, len(s.v))
	for n := range out {
		var y float64
		for i, c := range b {
			if n-i >= 0 && s.ok[n-i] {
				y += c * s.v[n-i]
			}
		}
		for j := 1; j < len(den) && j <= n; j++ {
			y -= den[j] * out[n-j]
		}
		out[n] = y / den[0]
	}
	return reals(out)
}

// arraySum is array_sum: a real, null when an element is not a number.
func arraySum(a []any) any {
	arr, ok := a[0].([]any)
	if !ok {
		return nil
	}
	var sum float64
	for _, e := range arr {
		f, isNum := asReal(e)
		if !isNum {
			return nil
		}
		sum += f
	}
	return sum
}

// arrayIff is array_iff(condition_array, when_true, when_false): for each condition element,
// the element of when_true or when_false at its position (or the scalar itself); null where
// the condition is not a boolean or the chosen array is too short. A number as condition
// counts as true when not zero.
func arrayIff(a []any) any {
	conds, ok := a[0].([]any)
	if !ok {
		return nil
	}
	pick := func(v any, i int) any {
		if arr, isArr := v.([]any); isArr {
			if i < len(arr) {
				return arr[i]
			}
			return nil
		}
		return dynValue(v)
	}
	out := make([]any, len(conds))
	for i, c := range conds {
		var truth, known bool
		switch x := c.(type) {
		case bool:
			truth, known = x, true
		case int64:
			truth, known = x != 0, true
		case float64:
			truth, known = x != 0, true
		}
		switch {
		case !known:
		case truth:
			out[i] = pick(a[1], i)
		default:
			out[i] = pick(a[2], i)
		}
	}
	return out
}

// rangeType checks range(start, stop[, step]): numbers, or datetimes or timespans with a
// timespan step.
func rangeType(cs []cexpr) (Type, error) {
	if err := checkArgs(cs, []argKind{kRange}); err != nil {
		return TypeNull, err
	}
	var ts []Type
	for _, c := range cs {
		if c.t != TypeNull && c.t != TypeDynamic {
			ts = append(ts, c.t)
		}
	}
	if len(ts) == 0 {
		return TypeDynamic, nil
	}
	switch first := ts[0]; {
	case isNumeric(first):
		for _, t := range ts {
			if !isNumeric(t) {
				return TypeNull, fmt.Errorf("a numeric range needs numbers, not %s", t)
			}
		}
	case first == TypeDatetime && len(cs) >= 2 && cs[1].t == TypeDatetime && (len(cs) == 2 || cs[2].t == TypeTimespan),
		first == TypeTimespan && len(cs) >= 2 && cs[1].t == TypeTimespan && (len(cs) == 2 || cs[2].t == TypeTimespan):
	default:
		return TypeNull, fmt.Errorf("a range of %s needs a %s stop and a timespan step", first, first)
	}
	return TypeDynamic, nil
}

// rangeArray is range(start, stop[, step]): start, start+step, … up to and including stop,
// at most maxRange elements; a step of 1 (numbers) or 1h (datetimes, timespans) by default.
// A zero step, or one that leads away from stop, gives an empty array.
func rangeArray(a []any) any {
	step := optArg(a, 2)
	switch start := a[0].(type) {
	case time.Time:
		stop, ok := a[1].(time.Time)
		d, okStep := durationStep(step)
		if !ok || !okStep {
			return nil
		}
		return steps(int64(stop.Sub(start)), int64(d), func(k int64) any { return start.Add(time.Duration(k * int64(d))) })
	case time.Duration:
		stop, ok := a[1].(time.Duration)
		d, okStep := durationStep(step)
		if !ok || !okStep {
			return nil
		}
		return steps(int64(stop-start), int64(d), func(k int64) any { return start + time.Duration(k*int64(d)) })
	}
	if step == nil {
		step = int64(1)
	}
	s0, ok0 := a[0].(int64)
	s1, ok1 := a[1].(int64)
	st, ok2 := step.(int64)
	if ok0 && ok1 && ok2 {
		return steps(s1-s0, st, func(k int64) any { return s0 + k*st })
	}
	f0, ok0 := asReal(a[0])
	f1, ok1 := asReal(a[1])
	fs, ok2 := asReal(step)
	if !ok0 || !ok1 || !ok2 || fs == 0 || math.IsNaN(f0+f1+fs) {
		return nil
	}
	count := math.Floor((f1-f0)/fs + 1e-9)
	if count < 0 {
		return []any{}
	}
	out := make([]any, 0, int(min(count+1, maxRange)))
	for k := 0.0; k <= count && len(out) < maxRange; k++ {
		out = append(out, f0+k*fs)
	}
	return out
}

func durationStep(v any) (time.Duration, bool) {
	if v == nil {
		return time.Hour, true
	}
	d, ok := v.(time.Duration)
	return d, ok
}

// steps makes the elements 0..span/step of a range, at most maxRange.
func steps(span, step int64, at func(k int64) any) any {
	if step == 0 {
		return nil
	}
	count := span / step
	if span != 0 && (span < 0) != (step < 0) {
		return []any{}
	}
	n := min(count+1, maxRange)
	out := make([]any, n)
	for k := range n {
		out[k] = at(k)
	}
	return out
}
