//! `silent`: an actor that takes no messages (world `plain-actor`: no
//! `message-server-client` export). `init` keeps the state it is given. The durability tests
//! swap it in for a messaging child's component file before a restart.

wit_bindgen::generate!({ world: "plain-actor", path: "../../../wit" });

use exports::theater::simple::actor::Guest as Actor;

struct Silent;

export!(Silent);

impl Actor for Silent {
    fn init(state: Option<Vec<u8>>, _params: (String,)) -> Result<(Option<Vec<u8>>,), String> {
        Ok((state,))
    }
}
