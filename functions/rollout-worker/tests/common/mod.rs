//! What the rollout tests and the benchmark share.

#![allow(dead_code)]

use std::sync::Arc;

use devstack::apigw::Served;
use devstack::world::World;
use ticket_receive::PlatformReceiver;

/// ticket-receive of the world's platform served over HTTP, and the simulator pushing to it (both
/// URLs): review results arrive as on AWS, and queue the rollout's next step.
pub async fn serve_pushes(world: &World) -> Served {
    let receiver = Arc::new(PlatformReceiver::from_platform(&world.platform).unwrap());
    world
        .serve_push_urls(move |call| {
            let receiver = receiver.clone();
            async move {
                ticket_receive::handle(&receiver, call.request())
                    .await
                    .unwrap()
            }
        })
        .await
}
