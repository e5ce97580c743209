//! EC-SQL text in, values out: expressions parsed, bound and planned as a job would be, then
//! evaluated, so a test reads like the query a user writes.

use crate::ast::WindowMod;
use crate::expr::ScalarExpr;
use crate::job::Job;
use crate::plan::{AggFunc, Node, Plan};
use crate::types::Value;

/// `src` has `k STRING, sw BIGINT, accu STRING, ts TIMESTAMP, n BIGINT, d DOUBLE, dec DECIMAL`.
fn plan(sql: &str) -> Plan {
    plan_with("", sql)
}

/// As [`plan`], with more `[system]` settings (`key=value` lines).
fn plan_with(system: &str, sql: &str) -> Plan {
    let text = format!(
        "[system]\n{system}\nsql={sql}\n\n[tabledesc-src]\ntable.name=src\n\
         table.fields=k,string,:sw,bigint,:accu,string,:ts,timestamp,:n,bigint,:d,double,:dec,decimal,\n\
         table.type=file\ntable.file.path=src.txt\n"
    );
    let job = Job::parse("test.ec", &text).unwrap_or_else(|e| panic!("{sql}: {e}"));
    crate::planner::plan(&job).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// The expressions of the query's last projection.
fn projection(system: &str, sql: &str) -> Vec<ScalarExpr> {
    let plan = plan_with(system, sql);
    plan.nodes
        .iter()
        .rev()
        .find_map(|n| match &n.node {
            Node::Map { exprs, .. } => Some(exprs.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no projection in\n{plan}"))
}

/// `expr` evaluated on [`src_row`], with `[system]` settings.
fn eval_with(system: &str, expr: &str) -> Value {
    let exprs = projection(system, &format!("SELECT {expr} FROM src"));
    exprs[0]
        .try_eval(&src_row())
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// `expr` evaluated on [`src_row`].
fn eval(expr: &str) -> Value {
    eval_with("", expr)
}

fn src_row() -> Vec<Value> {
    vec![
        Value::str("key"),
        Value::Int(7),
        Value::str("acc"),
        Value::str("2024-03-01 12:34:56"),
        Value::Int(3_000_000_000),
        Value::Double(2.675),
        Value::Decimal("-2.675".parse().unwrap()),
    ]
}

/// The aggregates of the query, as (function, argument, window).
fn aggregates(sql: &str) -> Vec<(AggFunc, Option<String>, WindowMod)> {
    let plan = plan(sql);
    plan.nodes
        .iter()
        .find_map(|n| match &n.node {
            Node::Aggregate(a) => Some(
                a.aggs
                    .iter()
                    .map(|c| (c.func, c.arg.as_ref().map(|e| e.to_string()), c.window))
                    .collect(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{sql}: no aggregate"))
}

#[test]
fn columns_named_sw_and_accu_are_columns_inside_aggregates() {
    use AggFunc::*;
    use WindowMod::*;
    let col = |i: usize| Some(format!("#{i}"));
    assert_eq!(
        aggregates(
            "SELECT k, max(sw), count(accu), countd(sw), count(DISTINCT accu), sum(n + sw), \
             min(src.sw) FROM src GROUP BY k"
        ),
        vec![
            (Max, col(1), Aggr),
            (Count, col(2), Aggr),
            (CountDistinct, col(1), Aggr),
            (CountDistinct, col(2), Aggr),
            (Sum, Some("(#4 + #1)".to_string()), Aggr),
            (Min, col(1), Aggr),
        ]
    );
    // Outside aggregates too: `abs(sw)` was read as `abs()` with the SW modifier.
    assert_eq!(eval("abs(sw)"), Value::Int(7));
    assert_eq!(eval("upper(accu)"), Value::str("ACC"));
    // The keywords after an argument are still the modifiers, also on those columns.
    assert_eq!(
        aggregates(
            "SELECT k, count(sw SW), count(accu ACCU), max(sw ACCU), count(1 SW), count(* ACCU) \
             FROM src GROUP BY k COORDINATE BY n WITH AGGR INTERVAL 60 SECONDS \
             WITH ACCU INTERVAL 3600 SECONDS WITH SW INTERVAL 300 SECONDS"
        ),
        vec![
            (Count, col(1), Sw),
            (Count, col(2), Accu),
            (Max, col(1), Accu),
            (Count, None, Sw),
            (Count, None, Accu),
        ]
    );
}

#[test]
fn string_literals_unescape_as_in_hive() {
    assert_eq!(
        eval(r"regexp_extract('ab12', '(\\d+)', 1)"),
        Value::str("12")
    );
    assert_eq!(eval(r"'it\'s'"), Value::str("it's"));
    assert_eq!(eval("'it''s'"), Value::str("it's"));
    assert_eq!(eval(r#""say \"hi\"""#), Value::str("say \"hi\""));
    assert_eq!(eval(r"'a\tb\nc'"), Value::str("a\tb\nc"));
    // An unknown escape drops the backslash; `\%` and `\_` keep it for LIKE.
    assert_eq!(eval(r"'\d\q'"), Value::str("dq"));
    assert_eq!(eval(r"'100\%'"), Value::str(r"100\%"));
    assert_eq!(eval(r"'100%' LIKE '100\%'"), Value::Bool(true));
    assert_eq!(eval(r"'1000' LIKE '100\%'"), Value::Bool(false));
    assert_eq!(eval(r"'\u0041\101\\'"), Value::str(r"AA\"));
    assert_eq!(eval(r"length('\\')"), Value::Int(1));
}

#[test]
fn casts_to_narrow_integers_wrap_as_in_hive() {
    let cases: [(&str, Value); 16] = [
        ("cast(300 AS tinyint)", Value::Int(44)),
        ("cast(-129 AS tinyint)", Value::Int(127)),
        ("cast(127 AS tinyint)", Value::Int(127)),
        ("cast(40000 AS smallint)", Value::Int(-25536)),
        ("cast(3000000000 AS int)", Value::Int(-1_294_967_296)),
        // At run time: `n` is the BIGINT 3000000000.
        ("cast(n AS int)", Value::Int(-1_294_967_296)),
        ("cast(n AS integer) + 1", Value::Int(-1_294_967_295)),
        ("cast(n AS bigint)", Value::Int(3_000_000_000)),
        // A double is truncated, clamped to INT, then narrowed (Java's `(byte) (int) d`).
        ("cast(300.7 AS tinyint)", Value::Int(44)),
        ("cast(1e10 AS int)", Value::Int(2_147_483_647)),
        ("cast(1e10 AS tinyint)", Value::Int(-1)),
        (
            "cast(cast(200 AS decimal(10,0)) AS tinyint)",
            Value::Int(-56),
        ),
        // Text must be a number in range.
        ("cast('300' AS tinyint)", Value::Null),
        ("cast('-128' AS tinyint)", Value::Int(-128)),
        ("tinyint(300)", Value::Int(44)),
        // An EXECUTE variable's DEFAULT is cast to its type.
        (
            "EXECUTE(DEFINE b AS tinyint DEFAULT 200 { } EMIT $b)",
            Value::Int(-56),
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr), want, "{expr}");
    }
}

#[test]
fn round_is_half_up_on_the_decimal_value() {
    let dec = |x: &str| Value::Decimal(x.parse().unwrap());
    let cases: [(&str, Value); 9] = [
        ("round(2.675, 2)", Value::Double(2.68)),
        ("round(-2.675, 2)", Value::Double(-2.68)),
        // At run time: `d` is the DOUBLE 2.675, `dec` the DECIMAL -2.675.
        ("round(d, 2)", Value::Double(2.68)),
        ("round(d * -1, 2)", Value::Double(-2.68)),
        ("round(dec, 2)", dec("-2.68")),
        ("round(1.23455, 4)", Value::Double(1.2346)),
        ("bround(2.665, 2)", Value::Double(2.66)),
        ("bround(dec, 2)", dec("-2.68")),
        ("bround(2.5)", Value::Double(2.0)),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr), want, "{expr}");
    }
}

#[test]
fn to_timestamp_ltz_shows_epoch_seconds_or_milliseconds_in_the_jobs_time_zone() {
    let cases = [
        (
            "",
            "to_timestamp_ltz(1709296496789, 3)",
            "2024-03-01 12:34:56.789",
        ),
        (
            "",
            "to_timestamp_ltz(1709296496, 0)",
            "2024-03-01 12:34:56.000",
        ),
        (
            "",
            "to_timestamp_ltz(1709296496789)",
            "2024-03-01 12:34:56.789",
        ),
        (
            "timezone=+08:00",
            "to_timestamp_ltz(1709296496789, 3)",
            "2024-03-01 20:34:56.789",
        ),
    ];
    for (system, expr, want) in cases {
        assert_eq!(eval_with(system, expr), Value::str(want), "{system} {expr}");
    }
    assert_eq!(eval("to_timestamp_ltz(NULL, 3)"), Value::Null);
}

#[test]
fn date_format_shows_a_timestamps_text_with_a_java_pattern() {
    let cases = [
        ("date_format(ts, 'yyyy-MM-dd')", Value::str("2024-03-01")),
        ("date_format(ts, 'HH:mm')", Value::str("12:34")),
        (
            "date_format('2024-03-01 12:34:56.789', 'yyyyMMdd HH:mm:ss.SSS')",
            Value::str("20240301 12:34:56.789"),
        ),
        (
            "date_format('2024-03-01', 'yyyy/MM/dd HH')",
            Value::str("2024/03/01 00"),
        ),
        // The pattern from a column, compiled per row.
        (
            "date_format(ts, concat('yyyy', '-MM'))",
            Value::str("2024-03"),
        ),
        ("date_format('garbage', 'yyyy')", Value::Null),
        ("date_format(NULL, 'yyyy')", Value::Null),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr), want, "{expr}");
    }
    // The text is the job's wall clock already: the time zone does not move it.
    assert_eq!(
        eval_with("timezone=+08:00", "date_format(ts, 'HH:mm')"),
        Value::str("12:34")
    );
}

#[test]
fn flinks_split_index_to_timestamp_and_extract() {
    let cases = [
        ("split_index('a,b,c', ',', 1)", Value::str("b")),
        ("split_index('a,b,c', ',', 0)", Value::str("a")),
        ("split_index('a,b,c', ',', 3)", Value::Null),
        ("split_index('a,b,c', ',', -1)", Value::Null),
        ("split_index('a::b', '::', 1)", Value::str("b")),
        (
            "to_timestamp('2024-03-01 12:34:56')",
            Value::str("2024-03-01 12:34:56.000"),
        ),
        (
            "to_timestamp('2024-03-01 12:34:56.7')",
            Value::str("2024-03-01 12:34:56.700"),
        ),
        (
            "to_timestamp('20240301 1234', 'yyyyMMdd HHmm')",
            Value::str("2024-03-01 12:34:00.000"),
        ),
        ("to_timestamp('garbage')", Value::Null),
        ("EXTRACT(YEAR FROM ts)", Value::Int(2024)),
        ("EXTRACT(MONTH FROM ts)", Value::Int(3)),
        ("EXTRACT(DAY FROM ts)", Value::Int(1)),
        ("EXTRACT(HOUR FROM ts)", Value::Int(12)),
        ("EXTRACT(MINUTE FROM ts)", Value::Int(34)),
        ("EXTRACT(SECOND FROM ts)", Value::Int(56)),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr), want, "{expr}");
    }
}

#[test]
fn current_timestamp_is_the_wall_clock_as_timestamp_text() {
    for expr in ["CURRENT_TIMESTAMP", "now()", "PROCTIME()"] {
        let before = chrono::Utc::now().naive_utc() - chrono::Duration::milliseconds(1);
        let Value::Str(text) = eval(expr) else {
            panic!("{expr} is no text")
        };
        let after = chrono::Utc::now().naive_utc() + chrono::Duration::milliseconds(1);
        let at = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.3f")
            .unwrap_or_else(|e| panic!("{expr}: {text}: {e}"));
        assert!(before <= at && at <= after, "{expr}: {text}");
    }
}

#[test]
fn timestamps_to_seconds() {
    // `ts` is the TIMESTAMP 2024-03-01 12:34:56: 1709296496 seconds after the epoch in UTC.
    let cases: [(&str, Value); 8] = [
        ("unix_timestamp(ts)", Value::Int(1_709_296_496)),
        ("cast(ts AS bigint)", Value::Int(1_709_296_496)),
        ("cast(ts AS double)", Value::Double(1_709_296_496.0)),
        (
            "cast('2024-03-01 12:34:56.5' AS double)",
            Value::Double(1_709_296_496.5),
        ),
        (
            "cast('2024-03-01 12:34:56.5' AS bigint)",
            Value::Int(1_709_296_496),
        ),
        // SimpleDateFormat ignores what follows the pattern.
        (
            "unix_timestamp('2024-03-01 12:34:56.789')",
            Value::Int(1_709_296_496),
        ),
        ("unix_timestamp('2024-03-01')", Value::Int(1_709_251_200)),
        ("unix_timestamp('garbage')", Value::Int(0)),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr), want, "{expr}");
    }
    // unix_timestamp reads the time in the job's time zone; a cast does not (Hive 3).
    let cn = "timezone=+08:00";
    assert_eq!(
        eval_with(cn, "unix_timestamp(ts)"),
        Value::Int(1_709_296_496 - 8 * 3600)
    );
    assert_eq!(
        eval_with(cn, "cast(ts AS bigint)"),
        Value::Int(1_709_296_496)
    );
}

#[test]
fn execute_spellings_agree() {
    // 0 + 1 + 2 + 3, then times 10 because it is above 5.
    let spellings = [
        "EXECUTE(DEFINE i AS int DEFAULT 0, s AS bigint DEFAULT 0 { \
         FOR($i < 4, $s := $s + $i, $i := $i + 1), IF($s > 5, $s := $s * 10) } EMIT $s)",
        // FOR(cond block) without a comma; one DEFINE per variable, without AS, `;`-separated.
        "EXECUTE(DEFINE i int DEFAULT 0; DEFINE s bigint DEFAULT 0; { \
         FOR($i < 4 { $s := $s + $i; $i := $i + 1 }); IF($s > 5 { $s := $s * 10 }) } EMIT $s)",
        // Statements written straight after the condition and after each other.
        "EXECUTE(DEFINE i AS int DEFAULT 0 DEFINE s AS bigint DEFAULT 0 { \
         FOR($i < 4 $s := $s + $i $i := $i + 1) IF($s > 5 $s := $s * 10) } EMIT $s)",
        "EXECUTE(DEFINE i AS int DEFAULT 0, DEFINE s AS bigint DEFAULT 0 { \
         FOR($i < 4, { $s := $s + $i, $i := $i + 1 }), IF($s > 5, { $s := $s * 10 }) } EMIT $s)",
        // The block after the condition's parenthesis, as in C.
        "EXECUTE(DEFINE i AS int DEFAULT 0, s AS bigint DEFAULT 0 { \
         FOR($i < 4) { $s := $s + $i; $i := $i + 1 } IF($s > 5) { $s := $s * 10 } } EMIT $s)",
        // The DEFINEs at the start of the block.
        "EXECUTE({ DEFINE i int DEFAULT 0; DEFINE s bigint DEFAULT if(sw > 0, 0, 1); \
         FOR($i < 4 { $s := $s + $i; $i := $i + 1 }); IF($s > 5 { $s := $s * 10 }) } EMIT $s)",
        "EXECUTE(DEFINE i AS int DEFAULT 0 { DEFINE s AS bigint DEFAULT 0 \
         FOR($i < 4 $s := $s + $i $i := $i + 1) IF($s > 5 $s := $s * 10) } EMIT $s)",
    ];
    for e in spellings {
        assert_eq!(eval(e), Value::Int(60), "{e}");
    }
    // A type with a comma inside its angle brackets.
    assert_eq!(
        eval(
            "EXECUTE(DEFINE m AS map<string,bigint> DEFAULT map('a', 1), n AS int DEFAULT 2 \
             { $n := $n + m['a'] } EMIT $n)"
        ),
        Value::Int(3)
    );
}

#[test]
fn timestamps_take_intervals_timestampadd_and_timestampdiff_as_in_flink() {
    // `ts` is 2024-03-01 12:34:56.
    let cases = [
        (
            "ts + INTERVAL '5' MINUTE",
            Value::str("2024-03-01 12:39:56.000"),
        ),
        (
            "ts - INTERVAL '1' DAY",
            Value::str("2024-02-29 12:34:56.000"),
        ),
        (
            "INTERVAL '2' HOUR + ts",
            Value::str("2024-03-01 14:34:56.000"),
        ),
        (
            "ts + INTERVAL '1' MONTH",
            Value::str("2024-04-01 12:34:56.000"),
        ),
        (
            "TIMESTAMPADD(WEEK, 2, ts)",
            Value::str("2024-03-15 12:34:56.000"),
        ),
        (
            "TIMESTAMPADD(YEAR, -1, ts)",
            Value::str("2023-03-01 12:34:56.000"),
        ),
        (
            "TIMESTAMPDIFF(SECOND, ts, ts + INTERVAL '90' SECOND)",
            Value::Int(90),
        ),
        (
            "TIMESTAMPDIFF(MINUTE, ts, '2024-03-01 12:00:00')",
            Value::Int(-34),
        ),
        ("TIMESTAMPDIFF(DAY, '2024-02-01', ts)", Value::Int(29)),
        (
            "TIMESTAMPDIFF(MONTH, '2024-01-31 00:00:00', ts)",
            Value::Int(1),
        ),
        ("TIMESTAMPDIFF(HOUR, ts, 'not a time')", Value::Null),
        (
            "ts BETWEEN ts - INTERVAL '1' SECOND AND ts + INTERVAL '1' SECOND",
            Value::Bool(true),
        ),
    ];
    for (expr, want) in cases {
        assert_eq!(eval(expr), want, "{expr}");
    }
    let err = |expr: &str| {
        let text = format!(
            "[system]\nsql=SELECT {expr} FROM src\n\n[tabledesc-src]\ntable.name=src\n\
             table.fields=ts,timestamp,:n,bigint,\ntable.type=file\ntable.file.path=src.txt\n"
        );
        let job = Job::parse("test.ec", &text).unwrap();
        let e = crate::planner::plan(&job).unwrap_err();
        (e.pos.line, e.pos.col, e.message)
    };
    assert_eq!(
        err("TIMESTAMPDIFF(FORTNIGHT, ts, ts)"),
        (
            2,
            26,
            "the unit of TIMESTAMPDIFF is SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, QUARTER or \
             YEAR, found `FORTNIGHT`"
                .into()
        )
    );
    assert_eq!(
        err("n + INTERVAL '5' SECOND"),
        (
            2,
            12,
            "an INTERVAL is added to a TIMESTAMP, not to BIGINT".into()
        )
    );
    assert_eq!(
        err("ts * INTERVAL '5' SECOND"),
        (
            2,
            12,
            "an INTERVAL is only added to or subtracted from a TIMESTAMP".into()
        )
    );
}

/// The last projection of a `.sql` job over `src (k STRING, n BIGINT)`, with its column types.
fn flink_projection(select: &str) -> (Vec<ScalarExpr>, Vec<crate::types::DataType>) {
    let text = format!(
        "CREATE TABLE src (k STRING, n BIGINT) WITH ('connector' = 'file', 'path' = 'src.txt');\n\
         {select};"
    );
    let job = Job::parse("test.sql", &text).unwrap_or_else(|e| panic!("{select}: {e}"));
    let plan = crate::planner::plan(&job).unwrap_or_else(|e| panic!("{select}: {e}"));
    plan.nodes
        .iter()
        .rev()
        .find_map(|n| match &n.node {
            Node::Map { exprs, .. } => Some((
                exprs.clone(),
                n.schema.fields.iter().map(|f| f.ty.clone()).collect(),
            )),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{select}: no projection in\n{plan}"))
}

#[test]
fn flink_sql_reads_a_number_with_a_point_as_an_exact_decimal() {
    use crate::types::DataType;
    let (exprs, types) = flink_projection(
        "SELECT 0.908 * n AS eur, 12.50 AS p, 1.5e3 AS x, MOD(n, 4) AS m FROM src",
    );
    assert_eq!(
        types,
        vec![
            DataType::Decimal {
                precision: 23,
                scale: 3
            },
            DataType::Decimal {
                precision: 4,
                scale: 2
            },
            DataType::Double,
            DataType::Int,
        ]
    );
    let row = vec![Value::str("k"), Value::Int(-563)];
    let values: Vec<Value> = exprs.iter().map(|e| e.eval(&row)).collect();
    assert_eq!(
        values,
        vec![
            Value::Decimal("-511.204".parse().unwrap()),
            Value::Decimal("12.50".parse().unwrap()),
            Value::Double(1500.0),
            // MOD takes the sign of the dividend, as `%` does.
            Value::Int(-3),
        ]
    );
    // The same literal in EC-SQL is Hive's DOUBLE.
    assert_eq!(eval("0.908 * 1000"), Value::Double(908.0));
}

#[test]
fn flink_sql_regexp_extract_is_null_without_a_match_and_count_char_counts() {
    let (exprs, _) = flink_projection(
        "SELECT REGEXP_EXTRACT(k, 'x([0-9]+)', 1) AS a, REGEXP_EXTRACT(k, 'k(.*)', 1) AS b, \
         COUNT_CHAR(k, 'c') AS c FROM src",
    );
    let row = vec![Value::str("kaccb"), Value::Int(0)];
    let values: Vec<Value> = exprs.iter().map(|e| e.eval(&row)).collect();
    assert_eq!(values, vec![Value::Null, Value::str("accb"), Value::Int(2)]);
    assert_eq!(
        eval("regexp_extract('kaccb', 'x([0-9]+)', 1)"),
        Value::str("")
    );
}
