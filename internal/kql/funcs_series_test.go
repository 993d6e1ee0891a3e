package kql

import (
	"fmt"
	"math"
	"testing"
)

// seriesFuncCases cover the functions of funcs_series.go: results and result types as the
// language documents them, nulls and non-numbers in the input arrays, and arguments refused
// when the query binds. TestQueriesGiveDocumentedResults runs them.
var seriesFuncCases = []kqlCase{
	// range()
	{name: "range of numbers", q: `print r = range(1, 8, 3), range(1, 3), range(5, 1, -2), range(1, 2, 0.5)`, want: `[[[1,4,7],[1,2,3],[5,3,1],[1,1.5,2]]]`, cols: "r:dynamic,print_1:dynamic,print_2:dynamic,print_3:dynamic"},
	{name: "range of timespans steps 1h by default", q: `print range(1h, 5h)`, want: `[[["01:00:00","02:00:00","03:00:00","04:00:00","05:00:00"]]]`},
	{name: "range of datetimes", q: `print range(datetime(2026-01-01), datetime(2026-01-03), 1d)`, want: `[[["2026-01-01T00:00:00Z","2026-01-02T00:00:00Z","2026-01-03T00:00:00Z"]]]`},
	{name: "range away from stop is empty, a zero step null", q: `print range(5, 1), range(1, 5, 0), range(3, 3)`, want: `[[[],null,[3]]]`},
	{name: "range is cut at 2^20 elements", q: `print array_length(range(1, 1000000000))`, want: `[[1048576]]`},
	{name: "range of a column", q: `Events | where Count < 3 | project range(1, Count)`, want: `[[[1]],[[1,2]]]`},
	{name: "range refuses a string", q: `print range("1", 3)`, err: "range(): argument 1 must be int or long or real or datetime or timespan, not string"},
	{name: "range refuses mixed kinds", q: `print range(datetime(2026-01-01), 3)`, err: "range(): a range of datetime needs a datetime stop and a timespan step"},

	// array helpers
	{name: "array_sum is real", q: `print array_sum(dynamic([1,2,3,4])), array_sum(dynamic([1.5, 2])), array_sum(dynamic([]))`, want: `[[10,3.5,0]]`, cols: "print_0:real,print_1:real,print_2:real"},
	{name: "array_sum of a non-number is null", q: `print array_sum(dynamic([1, "a"])), array_sum(dynamic([1, null]))`, want: `[[null,null]]`},
	{name: "array_reverse", q: `print array_reverse(dynamic([1, "b", {"c":3}])), array_reverse(dynamic([]))`, want: `[[[{"c":3},"b",1],[]]]`, cols: "print_0:dynamic,print_1:dynamic"},
	{name: "array_reverse of a non-array is null", q: `Events | where Account == "carol" | project array_reverse(Props)`, want: `[[null]]`},
	{name: "array_iff", q: `print array_iff(dynamic([true, false, true]), dynamic([1, 2, 3]), dynamic([4, 5, 6])), array_iif(dynamic([true, 0, "x", 2]), "a", "b")`, want: `[[[1,5,3],["a","b",null,"a"]]]`},
	{name: "array_iff with a short branch", q: `print array_iff(dynamic([true, true]), dynamic([1]), 0)`, want: `[[[1,null]]]`},
	{name: "array_sum refuses a string", q: `print array_sum("1,2")`, err: "array_sum(): argument 1 must be dynamic, not string"},

	// element-wise arithmetic and comparison
	{name: "series_add keeps longs", q: `print series_add(dynamic([1, 2, 3]), dynamic([10, 20, 30])), series_add(dynamic([1, 2.5]), 1)`, want: `[[[11,22,33],[2,3.5]]]`, cols: "print_0:dynamic,print_1:dynamic"},
	{name: "series arithmetic nulls missing and short elements", q: `print series_subtract(dynamic([5, null, "x", 7]), dynamic([1, 1, 1])), series_multiply(2, dynamic([1.5, 2]))`, want: `[[[4,null,null,null],[3,4]]]`},
	{name: "series_divide is real", q: `print series_divide(dynamic([1, 4, 1]), dynamic([2, 2, 0]))`, want: `[[[0.5,2,"Infinity"]]]`},
	{name: "series_pow", q: `print series_pow(dynamic([2, 3]), 2)`, want: `[[[4,9]]]`},
	{name: "series comparisons", q: `print series_greater(dynamic([1,2,4]), dynamic([4,2,1])), series_greater_equals(dynamic([1,2,4]), dynamic([4,2,1])), series_less(dynamic([1,2,4]), 2), series_less_equals(dynamic([1,2,4]), 2), series_equals(dynamic([1,2.0,4]), 2), series_not_equals(dynamic([1,null]), 1)`, want: `[[[false,false,true],[false,true,true],[true,false,false],[true,true,false],[false,true,false],[false,null]]]`},
	{name: "series_greater_equals against a real", q: `print series_greater_equals(dynamic([1.2, 1.5, 3]), 1.5)`, want: `[[[false,true,true]]]`},
	{name: "element-wise of two scalars is null", q: `print series_add(1, 2)`, want: `[[null]]`},
	{name: "series_add refuses a string", q: `print series_add(dynamic([1]), "2")`, err: "series_add(): argument 2 must be int or long or real or dynamic, not string"},
	{name: "series trigonometry", q: `print series_sin(dynamic([0])), series_cos(dynamic([0])), series_tan(dynamic([0])), series_asin(dynamic([0])), series_acos(dynamic([1])), series_atan(dynamic([0, "x"]))`, want: `[[[0],[1],[0],[0],[0],[0,null]]]`},
	{name: "series math", q: `print series_abs(dynamic([-1, -2.5, null, "a"])), series_sign(dynamic([-3, 0, 2.5])), series_floor(dynamic([1.5, -1.5])), series_ceiling(dynamic([1.5])), series_exp(dynamic([0])), series_log(dynamic([1]))`, want: `[[[1,2.5,null,null],[-1,0,1],[1,-2],[2],[1],[0]]]`},

	// filling
	{name: "series_fill_forward and backward", q: `print series_fill_forward(dynamic([null, 1, null, 3, null])), series_fill_backward(dynamic([null, 1, null, 3, null]))`, want: `[[[null,1,1,3,3],[1,1,3,3,null]]]`},
	{name: "series_fill_forward with a placeholder", q: `print series_fill_forward(dynamic([1, -1, -1, 4]), -1)`, want: `[[[1,1,1,4]]]`},
	{name: "series_fill_const", q: `print series_fill_const(dynamic([null, 1, null]), 0), series_fill_const(dynamic([2, -1, -1]), 7, -1)`, want: `[[[0,1,0],[2,7,7]]]`},
	{name: "series_fill_linear of reals", q: `print series_fill_linear(dynamic([null, 111.0, null, 36.0, 41.0, null, null, 16.0, 61.0, 33.0, null, null]))`, want: `[[[111,111,73.5,36,41,32.666666666666664,24.333333333333332,16,61,33,33,33]]]`},
	{name: "series_fill_linear of longs rounds", q: `print series_fill_linear(dynamic([null, 111, null, 36, 41, null, null, 16, 61, 33, null, null]))`, want: `[[[111,111,74,36,41,33,24,16,61,33,33,33]]]`},
	{name: "series_fill_linear without edges", q: `print series_fill_linear(dynamic([null, 10, null, 20, null]), double(null), false)`, want: `[[[null,10,15,20,null]]]`},
	{name: "series_fill_linear of nothing but nulls", q: `print series_fill_linear(dynamic([null, null])), series_fill_linear(dynamic([null, null]), double(null), true, 5), series_fill_linear(dynamic([null]), double(null), true, double(null))`, want: `[[[0,0],[5,5],[null]]]`},
	{name: "series_fill_linear with a placeholder", q: `print series_fill_linear(dynamic([0, 10, 0, 30]), 0)`, want: `[[[10,10,20,30]]]`},
	{name: "series_fill_linear refuses a non-bool fill_edges", q: `print series_fill_linear(dynamic([1]), 0, "yes")`, err: "argument 3 must be bool, not string"},

	// statistics
	{name: "series_stats_dynamic", q: `print stats = series_stats_dynamic(dynamic([23, 46, 23, 87, 4, 8, 3, 75, 2, 56, 13, 75, 32, 16, 29]))`, want: `[[{"min":2,"min_idx":8,"max":87,"max_idx":3,"avg":32.8,"stdev":28.503633853548266,"variance":812.4571428571428,"sum":492,"len":15}]]`, cols: "stats:dynamic"},
	{name: "series_stats in the documented column order", q: `print series_stats(dynamic([4, 1, 7]))`, want: `[[[1,1,7,2,4,3,9]]]`},
	{name: "series_stats with a null is null unless told to ignore it", q: `print series_stats_dynamic(dynamic([1, null, 3])).avg, series_stats_dynamic(dynamic([1, null, 3]), true).avg, series_stats_dynamic(dynamic([1, null, 3])).len`, want: `[[null,2,3]]`},
	{name: "series_stats of an empty series", q: `print series_stats_dynamic(dynamic([]))`, want: `[[{"min":null,"min_idx":null,"max":null,"max_idx":null,"avg":null,"stdev":null,"variance":null,"sum":null,"len":0}]]`},

	// fitting
	{name: "series_fit_line as an array", q: `print series_fit_line(dynamic([1, 3, 5, 7]))`, want: `[[[1,2,6.666666666666667,0,-1,[1,3,5,7]]]]`, cols: "print_0:dynamic"},
	{name: "series_fit_line_dynamic names the columns", q: `print f = series_fit_line_dynamic(dynamic([1, 3, 5, 7])) | project f.slope, f.interception, f.rsquare`, want: `[[2,-1,1]]`},
	{name: "series_fit_line leaves nulls out of the fit", q: `print series_fit_line_dynamic(dynamic([1, null, 5, 7])).line_fit`, want: `[[[1,3,5,7]]]`},
	{name: "series_fit_line of a non-array is null", q: `Events | where Account == "carol" | project series_fit_line(Props)`, want: `[[null,null,null,null,null,null]]`,
		cols: "series_fit_line_Props_rsquare:real,series_fit_line_Props_slope:real,series_fit_line_Props_variance:real,series_fit_line_Props_rvariance:real,series_fit_line_Props_interception:real,series_fit_line_Props_line_fit:dynamic"},
	{name: "a multi-column function without names gets the derived ones", q: `print y = dynamic([4, 1, 7]) | project series_stats(y)`, want: `[[1,1,7,2,4,3,9]]`,
		cols: "series_stats_y_min:real,series_stats_y_min_idx:long,series_stats_y_max:real,series_stats_y_max_idx:long,series_stats_y_avg:real,series_stats_y_stdev:real,series_stats_y_variance:real"},
	{name: "a multi-column function named once names its first column", q: `print y = dynamic([10, 11, 10, 11, 10, 50, 11, 10]) | extend anomalies = series_decompose_anomalies(y, 1.5, 0) | mv-expand y to typeof(long), anomalies to typeof(long) | where anomalies != 0 | project y, anomalies`,
		want: `[[50,1]]`, cols: "y:long,anomalies:long"},
	{name: "series_fit_2lines finds the break", q: `print f = series_fit_2lines_dynamic(dynamic([1, 2, 3, 4, 10, 9, 8, 7])) | project f.split_idx, f.left.slope, f.right.slope, f.rsquare`, want: `[[4,1,-1,1]]`},
	{name: "series_fit_2lines as an array", q: `print array_length(series_fit_2lines(dynamic([1, 2, 3, 4, 5, 4, 3, 2, 1])))`, want: `[[15]]`},
	{name: "series_fit_2lines of too short a series is null", q: `print series_fit_2lines(dynamic([1, 2, 3]))`, want: `[[null]]`},

	// outliers and decomposition
	{name: "series_outliers scores a spike", q: `print series_outliers(dynamic([1, 2, 1, 2, 1, 2, 1, 2, 1, 30, 1, 2]))`, want: `[[[0,0,0,0,0,0,0,0,0,53.20087343776106,0,0]]]`},
	{name: "series_outliers tukey and a dip", q: `print series_outliers(dynamic([10, 11, 10, 11, 10, -20, 11, 10]), "tukey")`, want: `[[[0,0,0,0,0,-30,0,0]]]`},
	{name: "series_outliers ignores nulls and the ignore value", q: `print series_outliers(dynamic([1, 2, null, 2, 1, -1, 2, 1]), "ctukey", -1)`, want: `[[[0,0,0,0,0,0,0,0]]]`},
	{name: "series_outliers refuses an unknown kind", q: `print series_outliers(dynamic([1]), "zscore")`, err: `series_outliers(): kind must be one of ctukey, tukey, not "zscore"`},
	{name: "series_outliers percentiles out of range are null", q: `print series_outliers(dynamic([1, 2, 3]), "ctukey", double(null), 1, 90)`, want: `[[null]]`},
	{name: "series_decompose without seasonality or trend", q: `print series_decompose(dynamic([1, 2, 3]), 0, "none")`, want: `[[[[0,0,0],[0,0,0],[0,0,0],[1,2,3]]]]`},
	{name: "series_decompose with a period", q: `print d = series_decompose(dynamic([1, 5, 1, 5, 1, 5, 1, 9]), 2, "none") | project baseline = d[0], residual = d[3]`, want: `[[[1,5,1,5,1,5,1,5],[0,0,0,0,0,0,0,4]]]`},
	{name: "series_decompose_anomalies flags up and down", q: `print a = series_decompose_anomalies(dynamic([10, 11, 10, 11, 10, 50, 11, 10, 11, -30, 10, 11]), 1.5, 0) | project flags = a[0]`, want: `[[[0,0,0,0,0,1,0,0,0,-1,0,0]]]`},
	{name: "series_decompose_anomalies threshold", q: `print a = series_decompose_anomalies(dynamic([10, 11, 10, 11, 10, 14, 11, 10]), 100.0, 0) | project flags = a[0]`, want: `[[[0,0,0,0,0,0,0,0]]]`},
	{name: "series_decompose_anomalies refuses an unknown trend", q: `print series_decompose_anomalies(dynamic([1]), 1.5, -1, "quadratic")`, err: `trend must be one of avg, linefit, none, not "quadratic"`},
	{name: "series_decompose_anomalies refuses an unknown method", q: `print series_decompose_anomalies(dynamic([1]), 1.5, -1, "avg", 0, "iqr")`, err: `AD method must be one of ctukey, tukey, not "iqr"`},
	{name: "series_decompose_anomalies refuses a string threshold", q: `print series_decompose_anomalies(dynamic([1]), "1.5")`, err: "argument 2 must be int or long or real, not string"},
	{name: "series_decompose_anomalies arity", q: `print series_decompose_anomalies(dynamic([1]), 1.5, -1, "avg", 0, "ctukey", 0.6, 1)`, err: "expects 1 to 7 arguments, got 8"},
	{name: "series_decompose test points beyond the series is null", q: `print series_decompose(dynamic([1, 2]), 0, "avg", 5)`, want: `[[null]]`},
	{name: "series_decompose_forecast", q: `print series_decompose_forecast(dynamic([1, 5, 1, 5, 1, 5, 0, 0]), 2, 2, "none"), series_decompose_forecast(dynamic([1, 2, 3, 4, 0, 0]), 2, 0, "linefit")`, want: `[[[1,5,1,5,1,5,1,5],[1,2,3,4,5,6]]]`, cols: "print_0:dynamic,print_1:dynamic"},
	{name: "series_decompose_forecast refuses an unknown trend", q: `print series_decompose_forecast(dynamic([1]), 1, -1, "cubic")`, err: `trend must be one of avg, linefit, none, not "cubic"`},
	{name: "series_periods_validate scores the periods asked", q: `print v = series_periods_validate(dynamic([1, 9, 1, 9, 1, 9, 1, 9, 1, 9, 1, 9]), 4, 2.0, 100) | project periods = v[0], strong4 = v[1][0] > 0.9, s2 = v[1][1], s100 = v[1][2]`, want: `[[[4,2,100],true,0,0]]`},
	{name: "series_periods_detect of a trend alone finds none", q: `print series_periods_detect(dynamic([1, 2, 3, 4, 5, 6, 7, 8]), 4.0, 4.0, 2)`, want: `[[[[0,0],[0,0]]]]`},

	// filters
	{name: "series_fir moving average", q: `print series_fir(dynamic([0, 0, 10, 20, 40, 100, 40, 20, 10, 0]), dynamic([1, 1, 1, 1, 1]))`, want: `[[[0,0,2,6,14,34,42,44,42,34]]]`, cols: "print_0:dynamic"},
	{name: "series_fir centered keeps the peak in place", q: `print series_fir(dynamic([0, 0, 10, 20, 40, 100, 40, 20, 10, 0]), dynamic([1, 1, 1, 1, 1]), true, true)`, want: `[[[2,6,14,34,42,44,42,34,14,6]]]`},
	{name: "series_fir difference is not normalized", q: `print series_fir(dynamic([1, 4, 9, 16]), dynamic([1, -1])), series_fir(dynamic([1, 4]), dynamic([1, -1]), true)`, want: `[[[1,3,5,7],null]]`},
	{name: "series_iir cumulative sum", q: `print series_iir(dynamic([1, 2, 3, 4, null]), dynamic([1]), dynamic([1, -1]))`, want: `[[[1,3,6,10,10]]]`, cols: "print_0:dynamic"},
	{name: "series_iir with a zero a0 is null", q: `print series_iir(dynamic([1]), dynamic([1]), dynamic([0, 1])), series_iir(dynamic([1]), dynamic(["x"]), dynamic([1]))`, want: `[[null,null]]`},

	// over a summarized series
	{name: "series functions over make_list", q: `Events | where isnotnull(Count) | summarize c = make_list(Count) | project series_stats_dynamic(c).max, array_sum(c), series_fit_line_dynamic(c).slope`, want: `[[6,17,1.3]]`},
}

// The documented example of series_fit_line: its table gives each figure to three decimals.
func TestSeriesFitLineMatchesTheDocumentedExample(t *testing.T) {
	got := fitLine([]any{int64(2), int64(5), int64(6), int64(8), int64(11), int64(15), int64(17), int64(18), int64(25), int64(26), int64(30), int64(30)})
	want := []float64{0.982, 2.730, 98.628, 1.686, -1.666}
	for i, w := range want {
		if g := got[i].(float64); math.Abs(g-w) > 1e-3 {
			t.Errorf("%s = %v, the documentation says %v", multiColumnFuncs["series_fit_line"][i].name, g, w)
		}
	}
	fit := got[5].([]any)
	for i, w := range []float64{1.064, 3.7945, 6.526, 9.256, 11.987, 14.718, 17.449, 20.180, 22.910, 25.641, 28.371, 31.102} {
		if g := fit[i].(float64); math.Abs(g-w) > 1e-3 {
			t.Errorf("line_fit[%d] = %v, the documentation says %v", i, g, w)
		}
	}
}

// The documented example of series_periods_detect: a month of traffic in 12-hour bins whose
// weekly period is 14 points.
func TestSeriesPeriodsDetectFindsTheDocumentedWeeklyPeriod(t *testing.T) {
	y := []float64{80, 139, 87, 110, 68, 54, 50, 51, 53, 133, 86, 141, 97, 156, 94, 149, 95, 140, 77, 61, 50, 54, 47, 133, 72, 152, 94, 148, 105, 162, 101, 160, 87, 63, 53, 55, 54, 151, 103, 189, 108, 183, 113, 175, 113, 178, 90, 71, 62, 62, 65, 165, 109, 181, 115, 182, 121, 178, 114, 170}
	arr := make([]any, len(y))
	for i, f := range y {
		arr[i] = f
	}
	res := periodsDetect([]any{arr, 0.0, 50.0, int64(2)}).([]any)
	periods, scores := res[0].([]any), res[1].([]any)
	if periods[0] != 14.0 {
		t.Fatalf("periods = %v, want the weekly 14 first", periods)
	}
	if s := scores[0].(float64); s < 0.6 || s > 1 {
		t.Errorf("score of the weekly period = %v, want a strong one in [0.6, 1]", s)
	}
}

// A daily pattern over a rising trend with two injected spikes: automatic seasonality and a
// linefit trend leave the pattern in the baseline, so only the spikes are flagged, and a spike
// among the test points at the end is flagged against what was learnt before them.
func TestSeriesDecomposeAnomaliesFlagsOnlyTheInjectedSpikes(t *testing.T) {
	const n = 24 * 7
	arr := make([]any, n)
	for i := range arr {
		arr[i] = 100 + 0.5*float64(i) + 40*math.Sin(2*math.Pi*float64(i)/24) + float64(i%3)
	}
	arr[50] = arr[50].(float64) + 120
	arr[100] = arr[100].(float64) - 120
	arr[n-2] = arr[n-2].(float64) + 120
	res := decomposeAnomalies([]any{arr, 3.0, int64(-1), "linefit", int64(4)}).([]any)
	flags := res[0].([]any)
	want := map[int]int64{50: 1, 100: -1, n - 2: 1}
	for i, f := range flags {
		if f.(int64) != want[i] {
			t.Errorf("flag[%d] = %v, want %d", i, f, want[i])
		}
	}
	baseline := res[2].([]any)
	if b := baseline[60].(float64); math.Abs(b-(arr[60].(float64))) > 5 {
		t.Errorf("baseline[60] = %v, want the seasonal pattern near %v", b, arr[60])
	}
}

// series_periods_validate scores the documented weekly period of the traffic example high,
// and a period the series does not have low.
func TestSeriesPeriodsValidateScoresTheWeeklyPeriod(t *testing.T) {
	y := []any{80.0, 139.0, 87.0, 110.0, 68.0, 54.0, 50.0, 51.0, 53.0, 133.0, 86.0, 141.0, 97.0, 156.0, 94.0, 149.0, 95.0, 140.0, 77.0, 61.0, 50.0, 54.0, 47.0, 133.0, 72.0, 152.0, 94.0, 148.0, 105.0, 162.0, 101.0, 160.0, 87.0, 63.0, 53.0, 55.0, 54.0, 151.0, 103.0, 189.0, 108.0, 183.0, 113.0, 175.0, 113.0, 178.0, 90.0, 71.0, 62.0, 62.0, 65.0, 165.0, 109.0, 181.0, 115.0, 182.0, 121.0, 178.0, 114.0, 170.0}
	res := periodsValidate([]any{y, int64(14), 9.0}).([]any)
	scores := res[1].([]any)
	if w, o := scores[0].(float64), scores[1].(float64); w < 0.6 || o > 0.3 {
		t.Errorf("scores of 14 and 9 = %v, %v: want the weekly 14 above 0.6 and 9 low", w, o)
	}
}

func TestMultiColumnFunctionsAreRegistered(t *testing.T) {
	for name := range multiColumnFuncs {
		if _, ok := funcs[name]; !ok {
			t.Errorf("%s is described as a multi-column function but not registered", name)
		}
	}
	got := len(fitLine([]any{int64(1), int64(2)}))
	if want := len(multiColumnFuncs["series_fit_line"]); got != want {
		t.Errorf("series_fit_line returns %d values, its columns are %d", got, want)
	}
}

// BenchmarkSeriesFunctionsOnALongSeries fits, splits, decomposes and searches for periods a
// series of 2^18 points, a quarter of what range() makes: the functions are O(n log n), where
// trying every split or every lag point by point would take hours, and this is where a return to
// that would show.
func BenchmarkSeriesFunctionsOnALongSeries(b *testing.B) {
	const n = 1 << 18
	y := make([]any, n)
	for i := range y {
		y[i] = math.Sin(float64(i)) + 0.001*float64(i)
	}
	for b.Loop() {
		fit2Lines(y)
		decomposeAnomalies([]any{y})
		periodsDetect([]any{y, 4.0, float64(n), int64(3)})
	}
}

// directLagCorrelations is lagCorrelations summed point by point, O(n × lags): the reference
// the FFT must agree with, and the baseline of its benchmark.
func directLagCorrelations(d []float64, maxLag int) []float64 {
	n := len(d)
	corr := make([]float64, maxLag+1)
	for lag := 1; lag <= maxLag && lag < n; lag++ {
		var sum, head, tail float64
		for i := 0; i+lag < n; i++ {
			sum += d[i] * d[i+lag]
			head += d[i] * d[i]
			tail += d[i+lag] * d[i+lag]
		}
		if head > 0 && tail > 0 {
			corr[lag] = sum / math.Sqrt(head*tail)
		}
	}
	return corr
}

func noisySeasonalSeries(n int) []float64 {
	d := make([]float64, n)
	seed := uint32(1)
	for i := range d {
		seed = seed*1664525 + 1013904223 // a fixed LCG: the same series every run
		d[i] = 10*math.Sin(2*math.Pi*float64(i)/24) + float64(seed>>16)/65536
	}
	return d
}

func TestLagCorrelationsMatchTheDirectSum(t *testing.T) {
	for _, n := range []int{5, 64, 1000} {
		d := noisySeasonalSeries(n)
		fast, direct := lagCorrelations(d, n/2), directLagCorrelations(d, n/2)
		for lag := range fast {
			if math.Abs(fast[lag]-direct[lag]) > 1e-9 {
				t.Fatalf("n=%d lag %d: FFT %v, direct %v", n, lag, fast[lag], direct[lag])
			}
		}
	}
}

// BenchmarkLagCorrelations: the correlations at every lag up to half the series, which period
// detection needs, by FFT against the direct sum; 672 points are four weeks of hourly bins,
// 8760 a year.
func BenchmarkLagCorrelations(b *testing.B) {
	for _, n := range []int{672, 8760} {
		d := noisySeasonalSeries(n)
		for _, m := range []struct {
			name string
			f    func([]float64, int) []float64
		}{{"direct", directLagCorrelations}, {"fft", lagCorrelations}} {
			b.Run(fmt.Sprintf("points=%d/method=%s", n, m.name), func(b *testing.B) {
				for b.Loop() {
					m.f(d, n/2)
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}
