//! Generated data for `cotalk seed --users N --rooms N --messages N`: more
//! users, group rooms and messages than the hand-written demo, for looking at
//! larger histories and room lists. Names and texts are drawn from Korean and
//! English lists with a fixed random seed, so a second run with the same
//! counts sends the same commands with the same idempotency keys and appends
//! nothing (keys are kept at least 24 hours).

use crate::seed::{self, Commands, SeedArgs, Session, Who};
use anyhow::Result;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const SURNAMES_KO: &[&str] = &["김", "이", "박", "최", "정", "강", "조", "윤", "장", "임"];
const GIVEN_KO: &[&str] = &[
    "민준", "서연", "도윤", "하은", "지호", "수아", "예준", "지유", "시우", "서윤",
];
const FIRST_EN: &[&str] = &[
    "Emma", "Noah", "Olivia", "Liam", "Ava", "Ethan", "Mia", "Lucas",
];
const LAST_EN: &[&str] = &["Kim", "Lee", "Park", "Smith", "Choi", "Brown"];
const ROOM_NAMES: &[&str] = &[
    "프로젝트",
    "Book club",
    "스터디",
    "Team sync",
    "동아리",
    "Release",
];

/// Members of a generated room besides its owner, at most.
const ROOM_MEMBERS: usize = 5;

fn display_name(rng: &mut StdRng, i: usize) -> String {
    if i.is_multiple_of(2) {
        let s = SURNAMES_KO[rng.gen_range(0..SURNAMES_KO.len())];
        let g = GIVEN_KO[rng.gen_range(0..GIVEN_KO.len())];
        format!("{s}{g}")
    } else {
        let f = FIRST_EN[rng.gen_range(0..FIRST_EN.len())];
        let l = LAST_EN[rng.gen_range(0..LAST_EN.len())];
        format!("{f} {l}")
    }
}

/// Write the generated users, rooms and messages of `args`.
pub(crate) async fn generate(c: &mut Commands, args: &SeedArgs) -> Result<()> {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut users: Vec<Session> = Vec::new();
    for (username, _) in seed::DEMO_USERS {
        users.push(seed::log_in(c, username).await?);
    }
    for i in 0..args.users {
        let username = format!("demo_{:04}", i + 1);
        let name = display_name(&mut rng, i);
        seed::sign_up(c, &username, &name).await?;
        users.push(seed::log_in(c, &username).await?);
    }
    // Messages need a room to go to.
    let rooms_wanted = if args.messages > 0 {
        args.rooms.max(1)
    } else {
        args.rooms
    };
    let everyone: Vec<Who> = (0..users.len()).collect();
    let mut rooms: Vec<(domain::RoomId, Vec<Who>)> = Vec::new();
    for i in 0..rooms_wanted {
        let owner = i % users.len();
        let mut members: Vec<Who> = everyone
            .choose_multiple(&mut rng, ROOM_MEMBERS + 1)
            .copied()
            .filter(|m| *m != owner)
            .take(ROOM_MEMBERS)
            .collect();
        members.sort_unstable();
        let name = format!("{} {}", ROOM_NAMES[i % ROOM_NAMES.len()], i + 1);
        let id = seed::room(c, &users, owner, &name, &members).await?;
        members.push(owner);
        rooms.push((id, members));
    }
    let texts: Vec<&str> = [seed::BACKLOG, seed::PRODUCT, seed::HIKING, seed::LUNCH]
        .iter()
        .flat_map(|lines| lines.iter().map(|(_, t)| *t))
        .collect();
    for i in 0..args.messages {
        let (room, members) = &rooms[rng.gen_range(0..rooms.len())];
        let who = members[rng.gen_range(0..members.len())];
        let text = texts[rng.gen_range(0..texts.len())];
        let body = format!("{text} #{}", i + 1);
        seed::post(c, &users, *room, who, &body).await?;
        if (i + 1).is_multiple_of(1000) {
            tracing::info!(messages = i + 1, "seed progress");
        }
    }
    Ok(())
}
