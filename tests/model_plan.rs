//! `model::Plan` derives what TFLite's Prepare derives for every conv /
//! depthwise / FC op (explicit padding, per-channel multiplier and shift,
//! activation bounds, depth multiplier, MACs): checked against the `derived`
//! records of the three fixture models' ops.json.

use std::path::Path;

use qmac::formats::tflite::Model;
use qmac::model::{Plan, StepKind};

#[test]
fn plan_matches_tflite_prepare_for_every_mac_op() {
    let mut checked = 0;
    for name in ["mbnet", "resnet", "kws"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models");
        let model = Model::read(&dir.join(format!("{name}.tflite"))).unwrap();
        let plan = Plan::new(&model).unwrap();
        let text = std::fs::read_to_string(dir.join(format!("{name}.ops.json"))).unwrap();
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let total: u64 = j["hw_macs"].as_u64().unwrap_or_else(|| plan.macs());
        assert_eq!(plan.macs(), total, "{name}: total MACs");
        for step in &plan.steps {
            let jo = &j["operators"][step.index];
            assert_eq!(jo["op"].as_str().unwrap(), step.name);
            let StepKind::Mac(case) = &step.kind else {
                assert!(
                    jo.get("derived").is_none(),
                    "{name} op {}: derived params for a non-MAC op",
                    step.index
                );
                continue;
            };
            let d = &jo["derived"];
            let here = format!("{name} op {} {}", step.index, step.name);
            let v = |k: &str| -> Vec<i64> { serde_json::from_value(d[k].clone()).unwrap() };
            let pad: Vec<i64> = case.padding.iter().map(|&p| p as i64).collect();
            assert_eq!(pad, v("padding_tblr"), "{here}: padding");
            let m: Vec<i64> = case.multiplier.iter().map(|&x| x as i64).collect();
            let s: Vec<i64> = case.shift.iter().map(|&x| x as i64).collect();
            assert_eq!(m, v("multiplier"), "{here}: multiplier");
            assert_eq!(s, v("shift"), "{here}: shift");
            assert_eq!(
                case.act_min as i64,
                d["act_min"].as_i64().unwrap(),
                "{here}: act_min"
            );
            assert_eq!(
                case.act_max as i64,
                d["act_max"].as_i64().unwrap(),
                "{here}: act_max"
            );
            assert_eq!(
                case.depth_multiplier as i64,
                d["depth_multiplier"].as_i64().unwrap(),
                "{here}"
            );
            assert_eq!(case.macs(), d["macs"].as_u64().unwrap(), "{here}: MACs");
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        12 + 10 + 10,
        "conv/dw/FC ops of the three models (mbnet, resnet, kws)"
    );
}
