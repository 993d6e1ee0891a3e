package kql

const patData = `datatable(State:string, Event:string, Damage:string, Loss:long)["TX","Hail","NO",0, "TX","Hail","NO",0, "TX","Hail","NO",0, "TX","Hail","NO",0, "TX","Wind","YES",5, "TX","Wind","YES",7, "OK","Hail","NO",0, "OK","Hail","NO",0, "OK","Flood","YES",9, "OK","Flood","YES",9]`

const patCols = "SegmentId:long,Count:long,Percent:real,State:string,Event:string,Damage:string,Loss:long"

var patternCases = []kqlCase{
	{name: "basket: the closed frequent patterns, largest first", q: patData + ` | evaluate basket(0.3)`,
		want: `[[0,6,60,"","Hail","NO",0],[1,6,60,"TX","","",null],[2,4,40,"TX","Hail","NO",0],[3,4,40,"","","YES",null],[4,4,40,"OK","","",null]]`, cols: patCols},
	{name: "basket: custom wildcards by type", q: patData + ` | evaluate basket(0.5, '~', '~', '*', long(-1))`,
		want: `[[0,6,60,"*","Hail","NO",0],[1,6,60,"TX","*","*",-1]]`, cols: patCols},
	{name: "basket: a weight column weighs the rows and is left out", q: patData + ` | evaluate basket(0.3, Loss)`,
		want: `[[0,30,100,"","","YES"],[1,18,60,"OK","Flood","YES"],[2,12,40,"TX","Wind","YES"]]`, cols: "SegmentId:long,Count:long,Percent:real,State:string,Event:string,Damage:string"},
	{name: "basket: MaxDimensions bounds the items of a pattern", q: patData + ` | evaluate basket(0.3, '~', 1) | where Count == 6 | count`, want: `[[4]]`},
	{name: "basket: empty input", q: patData + ` | where Loss > 100 | evaluate basket()`, want: `[]`, cols: patCols},
	{name: "autocluster: a few patterns covering the rows", q: patData + ` | evaluate autocluster()`,
		want: `[[0,6,60,"","Hail","NO",0],[1,2,20,"OK","Flood","YES",9],[2,2,20,"TX","Wind","YES",null]]`, cols: patCols},
	{name: "autocluster: a larger SizeWeight prefers coverage", q: patData + ` | evaluate autocluster(0.8)`,
		want: `[[0,6,60,"","Hail","NO",0],[1,4,40,"","","YES",null]]`, cols: patCols},
	{name: "autocluster: NumSeeds bounds the patterns", q: patData + ` | evaluate autocluster(0.5, '~', 1)`, want: `[[0,6,60,"","Hail","NO",0]]`},
	{name: "basket: a threshold out of range is refused", q: patData + ` | evaluate basket(2)`, err: "basket's Threshold is between 0.015 and 1, not 2"},
	{name: "autocluster: a size weight out of range is refused", q: patData + ` | evaluate autocluster(1.5)`, err: "autocluster's SizeWeight is between 0 and 1"},
	{name: "basket: a string weight column is refused", q: patData + ` | evaluate basket(0.1, State)`, err: "WeightColumn must be a numeric column"},
}
