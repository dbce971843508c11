//! `init-fail`: an actor whose `init` always returns an error, for the spawn-failure tests
//! (`spawn` must return `err`, register no child and send no callback).

// The world is written inline (what `theater:simple`'s plain `actor` world holds) so this crate
// depends only on the interface names, which the contract fixes.
wit_bindgen::generate!({
    inline: "
        package test:init-fail;
        world init-fail {
            import theater:simple/runtime;
            export theater:simple/actor;
        }
    ",
    path: "../../../wit",
    // `types` is reached only through the imported interfaces: generate it too.
    generate_all,
});

use exports::theater::simple::actor::Guest as Actor;

struct InitFail;

export!(InitFail);

impl Actor for InitFail {
    fn init(_state: Option<Vec<u8>>, _params: (String,)) -> Result<(Option<Vec<u8>>,), String> {
        Err("init-fail: refusing to start".to_string())
    }
}
