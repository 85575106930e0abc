//! berth-runtime's JSON against runc's, as text: `state`, `list --format
//! json`, `events --stats`, `events --interval` and OOM events must have
//! runc's keys in runc's order with values of runc's JSON types, because
//! runc's tests and users' scripts match the text (`"ociVersion":...,"id":`).
//! Keys are read in document order by [`Json`]: serde_json's own map
//! sorts them, which would hide exactly the difference tested here.

use std::io::BufRead;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use berth_integration_tests::runtime::{container_id, CgroupParentCleanup, Cleanup, Runtime};
use berth_integration_tests::{require_root, stderr, stdout, Bundle, TestDir};
use serde_json::json;

/// A JSON document with object keys kept in the order they were written.
enum Json {
    Null,
    Bool,
    Number,
    String,
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> serde::de::Visitor<'de> for JsonVisitor {
    type Value = Json;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Json, E> {
        Ok(Json::Bool)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Json, E> {
        Ok(Json::Number)
    }
    fn visit_str<E>(self, _: &str) -> Result<Json, E> {
        Ok(Json::String)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(Json::Array(v))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = map.next_entry::<String, Json>()? {
            v.push((k, x));
        }
        Ok(Json::Object(v))
    }
}

/// Every key path of a document with its value's type, in document order
/// (an array by its first element), skipping the children of paths ending
/// in one of `opaque` (maps whose keys are data, such as memory.stat's).
fn shape(text: &str, opaque: &[&str]) -> Vec<String> {
    fn walk(j: &Json, path: &str, opaque: &[&str], out: &mut Vec<String>) {
        let kind = match j {
            Json::Null => "null",
            Json::Bool => "bool",
            Json::Number => "number",
            Json::String => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        };
        out.push(format!("{path} {kind}"));
        if opaque.iter().any(|o| path.ends_with(o)) {
            return;
        }
        match j {
            Json::Array(v) => {
                if let Some(first) = v.first() {
                    walk(first, &format!("{path}[]"), opaque, out);
                }
            }
            Json::Object(v) => {
                for (k, x) in v {
                    walk(x, &format!("{path}/{k}"), opaque, out);
                }
            }
            _ => {}
        }
    }
    let j: Json = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let mut out = Vec::new();
    walk(&j, "", opaque, &mut out);
    out
}

/// An explicit cgroup for both runtimes (runc would otherwise nest the
/// container under the test's own cgroup).
fn cgroup_path(id: &str) -> String {
    format!("/bt-json/{id}")
}

/// A bundle for `rt` under `dir/name` running `args` in its own cgroup,
/// with `edit` applied to the spec.
fn bundle(
    dir: &TestDir,
    name: &str,
    id: &str,
    args: &[&str],
    edit: &dyn Fn(&mut serde_json::Value),
) -> Bundle {
    let mut b = Bundle::new(&dir.join(name), args);
    b.spec["linux"]["cgroupsPath"] = json!(cgroup_path(id));
    edit(&mut b.spec);
    b.save();
    b
}

fn both() -> [(&'static str, Runtime); 2] {
    [("berth", Runtime::berth()), ("runc", Runtime::runc())]
}

#[test]
fn state_and_list_have_runcs_keys_order_and_types() {
    require_root();
    let dir = TestDir::new("jsonst");
    let _parents = CgroupParentCleanup::new("bt-json");
    let mut seen = Vec::new();
    for (name, rt) in both() {
        // An empty root lists as `null`, as runc's nil slice encodes.
        let out = rt.exec(&["list", "--format", "json"]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let empty = stdout(&out);
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(&dir, name, &id, &["sleep", "1000"], &|s| {
            s["annotations"] = json!({"org.example.b": "2", "org.example.a": "1"});
        });
        rt.start_detached(&b.dir, &id);
        let state = stdout(&rt.exec(&["state", &id]));
        let list = stdout(&rt.exec(&["list", "--format", "json"]));
        let table = stdout(&rt.exec(&["list"]));
        rt.exec(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        let stopped = stdout(&rt.exec(&["state", &id]));
        let stopped_pid =
            serde_json::from_str::<serde_json::Value>(&stopped).unwrap()["pid"].clone();
        // The table: runc's columns, the first column padded by
        // tabwriter's rules (at least 12, widest cell + 3).
        let header = table.lines().next().unwrap_or("").to_string();
        let id_col = header.find("PID").unwrap_or(0) - id.len();
        seen.push((
            name,
            empty,
            shape(&state, &[]),
            shape(&list, &[]),
            shape(&stopped, &[]),
            stopped_pid,
            header.split_whitespace().collect::<Vec<_>>().join(" "),
            id_col,
            // The pretty-printed state is indented by two spaces.
            state.lines().nth(1).map(|l| l.len() - l.trim_start().len()),
        ));
    }
    let (b, r) = (&seen[0], &seen[1]);
    assert_eq!(b.1, "null", "berth: empty list");
    assert_eq!(b.1, r.1, "empty list");
    assert_eq!(b.2, r.2, "state keys, order and types (berth, runc)");
    assert!(
        b.2.iter().any(|k| k == "/annotations/org.example.a string"),
        "{:?}",
        b.2
    );
    assert_eq!(
        b.3, r.3,
        "list --format json keys, order and types (berth, runc)"
    );
    assert_eq!(b.4, r.4, "stopped state (berth, runc)");
    assert_eq!(b.5, json!(0), "a stopped container's pid is 0 as in runc");
    assert_eq!(b.5, r.5);
    assert_eq!(b.6, r.6, "list table header");
    assert_eq!(b.7, r.7, "list table: id column padding");
    assert_eq!(b.8, r.8, "state indentation");
}

#[test]
fn state_and_list_values_are_runcs() {
    require_root();
    let dir = TestDir::new("jsonval");
    let _parents = CgroupParentCleanup::new("bt-json");
    for (name, rt) in both() {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(&dir, name, &id, &["sleep", "1000"], &|s| {
            s["ociVersion"] = json!("1.0.1");
        });
        rt.start_detached(&b.dir, &id);
        let state: serde_json::Value =
            serde_json::from_str(&stdout(&rt.exec(&["state", &id]))).unwrap();
        let list: serde_json::Value =
            serde_json::from_str(&stdout(&rt.exec(&["list", "--format", "json"]))).unwrap();
        // runc reports the spec version it implements (the `spec:` line of
        // its --version), not the bundle's; the state dir's owner in `list`
        // and none in `state`.
        let version = stdout(&rt.exec(&["--version"]));
        let spec_line = version.lines().find_map(|l| l.strip_prefix("spec: "));
        assert_eq!(
            state["ociVersion"].as_str(),
            spec_line,
            "{name}: {state}\n{version}"
        );
        assert_eq!(state["owner"], "", "{name}: {state}");
        assert_eq!(list[0]["owner"], "root", "{name}: {list}");
        assert_eq!(list[0]["rootfs"], b.rootfs().to_str().unwrap(), "{name}");
        assert_eq!(list[0]["created"], state["created"], "{name}");
        let table = stdout(&rt.exec(&["list"]));
        let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(row.len(), 6, "{name}: {table}");
        assert_eq!(
            (row[0], row[2], row[5]),
            (id.as_str(), "running", "root"),
            "{name}"
        );
    }
}

#[test]
fn events_stats_have_runcs_keys_order_and_types() {
    require_root();
    let dir = TestDir::new("jsonev");
    let _parents = CgroupParentCleanup::new("bt-json");
    let mut seen = Vec::new();
    for (name, rt) in both() {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(
            &dir,
            name,
            &id,
            &[
                "sh",
                "-c",
                "head -c 100000 /dev/zero >/dev/null; sleep 1000",
            ],
            &|s| {
                s["linux"]["resources"]["pids"] = json!({"limit": 50});
            },
        );
        rt.start_detached(&b.dir, &id);
        std::thread::sleep(Duration::from_millis(200));
        let out = rt.exec(&["events", "--stats", &id]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{name}: one compact line: {text}");
        assert!(
            text.starts_with(&format!(
                "{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":{{\"cpu\":"
            )),
            "{name}: {text}"
        );
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["data"]["pids"]["limit"], 50, "{name}");
        seen.push(shape(&text, &["/raw"]));
        // A stopped container has no events, in both.
        rt.exec(&["kill", &id, "KILL"]);
        rt.wait_status(&id, "stopped");
        let out = rt.exec(&["events", "--stats", &id]);
        assert!(
            !out.status.success(),
            "{name}: events of a stopped container"
        );
    }
    assert_eq!(seen[0], seen[1], "events --stats shape (berth, runc)");
}

#[test]
fn events_stream_stats_and_oom_lines_as_runc() {
    require_root();
    let dir = TestDir::new("jsonoom");
    let _parents = CgroupParentCleanup::new("bt-json");
    for (name, rt) in both() {
        let id = container_id(name);
        let _c = Cleanup {
            runtime: &rt,
            ids: vec![id.clone()],
        };
        let b = bundle(
            &dir,
            name,
            &id,
            &[
                "sh",
                "-c",
                "sleep 1; while true; do x=$(head -c 100000000 /dev/zero | tr '\\0' a); done",
            ],
            &|s| {
                s["linux"]["resources"]["memory"] = json!({"limit": 32 << 20, "swap": 32 << 20});
            },
        );
        rt.start_detached(&b.dir, &id);
        let started = Instant::now();
        let mut child = rt
            .cmd()
            .args(["events", "--interval", "1s", &id])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send((Instant::now(), line));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let (mut stats, mut oom) = (None, None);
        while Instant::now() < deadline && (stats.is_none() || oom.is_none()) {
            if let Ok((at, line)) = rx.recv_timeout(Duration::from_millis(200)) {
                if line.starts_with("{\"type\":\"stats\"") {
                    stats.get_or_insert((at, line));
                } else {
                    oom.get_or_insert(line);
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        let (at, stats) = stats.unwrap_or_else(|| panic!("{name}: no stats event"));
        assert!(
            stats.starts_with(&format!(
                "{{\"type\":\"stats\",\"id\":\"{id}\",\"data\":{{\"cpu\":"
            )),
            "{name}: {stats}"
        );
        // The first stats event comes after one interval, as runc's ticker.
        assert!(
            at - started >= Duration::from_millis(900),
            "{name}: first stats after {:?}",
            at - started
        );
        assert_eq!(
            oom.unwrap_or_else(|| panic!("{name}: no oom event within 20s")),
            format!("{{\"type\":\"oom\",\"id\":\"{id}\"}}"),
            "{name}"
        );
    }
}
