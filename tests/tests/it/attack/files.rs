//! Attacks by other local users on the CO's and LO's files: the data folders
//! are 0700 and the databases (with their journals), keys and tokens 0600,
//! and a folder found open is closed at start.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use edge_tests::co::Co;
use edge_tests::fleet::fleet;
use edge_tests::lo::Lo;

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn the_co_and_lo_keep_their_data_from_other_local_users() {
    let f = fleet();
    let co_data = f.co.data.clone();
    assert_eq!(mode(&co_data), 0o700);
    for file in ["edged.db", "edged.db-wal", "admin.token"] {
        let p = co_data.join(file);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{file}");
        }
    }
    assert_eq!(mode(&co_data.join("edged.db")), 0o600);

    let lo_data = f.dir.path().join("lo");
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    assert_eq!(mode(&lo_data), 0o700);
    assert_eq!(mode(&lo_data.join("lo.db")), 0o600);
    lo.kill();

    // A data folder opened up by hand is closed again at the next start.
    std::fs::set_permissions(&lo_data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        lo_data.join("lo.db"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let lo = Lo::start(&f.lo_creds, &lo_data, &[]);
    assert_eq!(mode(&lo_data), 0o700);
    assert_eq!(mode(&lo_data.join("lo.db")), 0o600);
    lo.kill();

    let data = co_data.clone();
    assert!(f.co.stop().success());
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let co = Co::start(&data, &[]);
    assert_eq!(mode(&co.data), 0o700);
}
