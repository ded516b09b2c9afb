//! A key's forced command on a real target: bash behind OpenSSH's sshd runs the forced
//! command, and the operator's own command reaches it in `SSH_ORIGINAL_COMMAND`, which sshgate
//! sets on the command line (an sshd without AcceptEnv refuses it as an env request).

use std::sync::Arc;

use real_target::TargetOptions;
use sshgate::client_keys::ClientKeys;
use sshgate::credentials::generate_host_key;
use sshgate::ClientAuth;
use sshgate_tests::operator::Operator;

use crate::Front;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_forced_command_gets_the_operators_command_in_ssh_original_command() {
    let dir = tempfile::tempdir().unwrap();
    let key = generate_host_key();
    let file = dir.path().join("authorized_keys");
    std::fs::write(
        &file,
        format!(
            r#"command="printf '[%s]\n' \"$SSH_ORIGINAL_COMMAND\"" {}"#,
            key.public_key().to_openssh().unwrap()
        ) + "\n",
    )
    .unwrap();
    let keys = ClientKeys::default().with_file(&file).unwrap();
    let client_auth = ClientAuth::AuthorizedKeys(Arc::new(keys));
    let Some(front) = Front::start(TargetOptions::default(), client_auth).await else {
        return;
    };
    let operator = Operator::connect(front.proxy, "operator", Some(&key))
        .await
        .unwrap();
    let outcome = operator.exec("ls -l 'it''s' \"$HOME\"").await.unwrap();
    assert_eq!(outcome.stdout, "[ls -l 'it''s' \"$HOME\"]\n", "{outcome:?}");
    assert_eq!(outcome.exit_status, Some(0));
    assert_eq!(
        front.requested(),
        vec![r#"printf '[%s]\n' "$SSH_ORIGINAL_COMMAND""#.to_string()]
    );
}
