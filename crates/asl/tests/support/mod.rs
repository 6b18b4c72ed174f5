//! The scripted host and runner the JSONata and Variables tests share.

use std::sync::{Arc, Mutex};

use asl::{
    Engine, ExecutionOutcome, ManualClock, StartExecution, StateMachine, TaskFailure, TaskHost,
    TaskOutput, TaskRequest, async_trait,
};
use serde_json::{Value, json};

/// Answers `{"echo": parameters}`; a resource ending in `:fail` fails with
/// `Boom`.
#[derive(Debug, Default)]
pub struct Echo {
    pub seen: Mutex<Vec<TaskRequest>>,
}

#[async_trait]
impl TaskHost for Echo {
    async fn invoke(&self, req: TaskRequest) -> Result<TaskOutput, TaskFailure> {
        self.seen.lock().unwrap().push(req.clone());
        if req.resource_arn.ends_with(":fail") {
            return Err(TaskFailure::new("Boom", "it broke"));
        }
        Ok(TaskOutput::Final(json!({ "echo": req.parameters })))
    }
}

pub const FN: &str = "arn:aws:lambda:us-east-1:000000000000:function";

/// Run `def` on `input` to its end in virtual time, as execution `name`.
pub async fn run_with(host: Arc<Echo>, name: &str, def: Value, input: Value) -> ExecutionOutcome {
    let m = StateMachine::from_value(&def).unwrap_or_else(|p| panic!("{p:?}"));
    let clock = ManualClock::default();
    let engine = Engine::new(host, Arc::new(clock.clone()));
    let fut = engine.run(&m, StartExecution::new(name, input)).unwrap();
    clock.run(fut).await
}
