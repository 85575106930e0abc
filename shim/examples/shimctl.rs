//! A minimal command-line client for one berth-shim, for benchmarks and by
//! hand:
//!
//! ```text
//! shimctl SOCKET ID create [LOGFILE] | start | state | wait | kill SIG | delete | pids | shutdown
//! ```

use berth_proto::shim::v1 as pb;

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [socket, id, verb, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: shimctl SOCKET ID create [LOGFILE]|start|state|wait|kill SIG|delete|pids|shutdown");
    };
    let channel = berth_proto::dial_unix(std::path::Path::new(socket)).await?;
    let mut c = pb::shim_client::ShimClient::new(channel);
    let id = id.clone();
    match verb.as_str() {
        "create" => {
            let log = rest.first().map(|p| pb::LogConfig {
                driver: "json-file".into(),
                path: p.clone(),
                ..Default::default()
            });
            let r = c
                .create(pb::CreateRequest {
                    id,
                    stdin: false,
                    log,
                })
                .await?;
            println!("{}", r.into_inner().pid);
        }
        "start" => {
            let r = c
                .start(pb::StartRequest {
                    id,
                    exec_id: String::new(),
                })
                .await?;
            println!("{}", r.into_inner().pid);
        }
        "state" => {
            let r = c
                .state(pb::StateRequest {
                    id,
                    exec_id: String::new(),
                })
                .await?;
            println!("{:?}", r.into_inner());
        }
        "wait" => {
            let r = c
                .wait(pb::WaitRequest {
                    id,
                    exec_id: String::new(),
                })
                .await?;
            println!("{}", r.into_inner().exit_status);
        }
        "kill" => {
            let signal = rest.first().map(|s| s.parse()).transpose()?.unwrap_or(15);
            c.kill(pb::KillRequest {
                id,
                exec_id: String::new(),
                signal,
                all: false,
            })
            .await?;
        }
        "delete" => {
            let r = c
                .delete(pb::DeleteRequest {
                    id,
                    exec_id: String::new(),
                })
                .await?;
            println!("{}", r.into_inner().exit_status);
        }
        "pids" => {
            let r = c.pids(pb::PidsRequest { id }).await?;
            for p in r.into_inner().processes {
                println!("{} {}", p.pid, p.exec_id);
            }
        }
        "shutdown" => {
            c.shutdown(pb::ShutdownRequest { id, now: true }).await?;
        }
        other => anyhow::bail!("unknown verb {other}"),
    }
    Ok(())
}
