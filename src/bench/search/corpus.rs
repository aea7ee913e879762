//! The generated corpus of `cotalk bench search`: chat messages in Korean,
//! English and both, 5–200 characters, in rooms whose members are each in
//! about 50 rooms.
//!
//! Text comes from sentence templates filled from a vocabulary. Korean nouns
//! get the particle their last syllable calls for (회의는 / 일정은, 회의를 /
//! 일정을 …) three times out of four, and appear inside compounds (주간회의,
//! 배포일정); English words appear inflected (deploying, deployments).
//!
//! **Relevance by construction.** Every time the generator writes one of the
//! [`TOPICS`] (in any particle form, inside a compound, or inflected), it
//! sets that topic's bit on the message. A message is relevant to a topic
//! query exactly when its bit is set; the vocabulary is chosen so no other
//! word contains a topic's letters by accident. This gives exact expected
//! sets for a million messages without judging them by hand.
//!
//! The corpus is a pure function of the seed and the message number, so the
//! bench streams it twice (tantivy, then Postgres) instead of holding it.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Topics whose relevance is known: (query word, is Korean).
pub const TOPICS: &[(&str, bool)] = &[
    ("회의", true),
    ("일정", true),
    ("배포", true),
    ("서버", true),
    ("자료", true),
    ("예약", true),
    ("점심", true),
    ("보고서", true),
    ("deploy", false),
    ("meeting", false),
    ("release", false),
    ("review", false),
];

/// The bit of topic `word`.
pub fn topic_bit(word: &str) -> u64 {
    TOPICS
        .iter()
        .position(|(w, _)| *w == word)
        .map_or(0, |i| 1 << i)
}

/// Korean nouns: (word, topic bits).
const KO_NOUNS: &[(&str, &[&str])] = &[
    ("회의", &["회의"]),
    ("일정", &["일정"]),
    ("배포", &["배포"]),
    ("서버", &["서버"]),
    ("자료", &["자료"]),
    ("예약", &["예약"]),
    ("점심", &["점심"]),
    ("보고서", &["보고서"]),
    ("주간회의", &["회의"]),
    ("회의실", &["회의"]),
    ("회의록", &["회의"]),
    ("화상회의", &["회의"]),
    ("배포일정", &["배포", "일정"]),
    ("서버점검", &["서버"]),
    ("점심시간", &["점심"]),
    ("발표자료", &["자료"]),
    ("식당예약", &["예약"]),
    ("주간보고서", &["보고서"]),
    ("프로젝트", &[]),
    ("고객", &[]),
    ("계약서", &[]),
    ("출장", &[]),
    ("회식", &[]),
    ("발표", &[]),
    ("마감", &[]),
    ("버그", &[]),
    ("디자인", &[]),
    ("테스트", &[]),
    ("주말", &[]),
    ("영화", &[]),
    ("여행", &[]),
    ("커피", &[]),
    ("운동", &[]),
    ("선물", &[]),
    ("택배", &[]),
    ("날씨", &[]),
    ("저녁", &[]),
    ("팀장님", &[]),
    ("문서", &[]),
    ("코드", &[]),
    ("메일", &[]),
    ("휴가", &[]),
    ("면접", &[]),
    ("교육", &[]),
    ("견적", &[]),
];

const WITH_BATCHIM: &[&str] = &[
    "은", "이", "을", "으로", "과", "이랑", "에", "에서", "도", "만", "까지", "부터", "의",
];
const WITHOUT_BATCHIM: &[&str] = &[
    "는", "가", "를", "로", "와", "랑", "에", "에서", "도", "만", "까지", "부터", "의",
];
const KO_TIMES: &[&str] = &[
    "오늘",
    "내일",
    "어제",
    "오후에",
    "오전에",
    "3시에",
    "다음 주에",
    "이따가",
    "금요일에",
    "월요일 아침에",
    "방금",
];
const KO_ADVERBS: &[&str] = &[
    "조금", "다시", "먼저", "빨리", "혹시", "아직", "이미", "같이", "잠깐", "꼭",
];
const KO_PREDICATES: &[&str] = &[
    "확인 부탁드려요",
    "공유드릴게요",
    "끝났어요",
    "미뤄졌어요",
    "잡혔어요",
    "어때요?",
    "올려놨습니다",
    "진행합니다",
    "준비됐나요?",
    "정리했어요",
    "괜찮을까요?",
    "알려주세요",
    "봤어요?",
    "좋네요",
    "시작합니다",
    "바뀌었대요",
    "챙겨주세요",
];
const KO_FILLERS: &[&str] = &[
    "네 알겠습니다",
    "ㅋㅋㅋㅋ 진짜요?",
    "좋아요 좋아요",
    "감사합니다!",
    "헐 대박이네요",
    "잠시만요~",
];

/// English words: (forms, topic bits).
const EN_NOUNS: &[(&[&str], &[&str])] = &[
    (
        &["deploy", "deploys", "deployment", "deployments"],
        &["deploy"],
    ),
    (&["meeting", "meetings"], &["meeting"]),
    (&["release", "releases"], &["release"]),
    (&["review", "reviews", "code review"], &["review"]),
    (&["server", "servers"], &[]),
    (&["report", "reports"], &[]),
    (&["schedule"], &[]),
    (&["budget"], &[]),
    (&["design", "designs"], &[]),
    (&["test", "tests"], &[]),
    (&["lunch"], &[]),
    (&["bug", "bugs"], &[]),
    (&["customer", "customers"], &[]),
    (&["contract"], &[]),
    (&["invoice"], &[]),
];
const EN_VERBS: &[(&str, &[&str])] = &[
    ("deployed", &["deploy"]),
    ("deploying", &["deploy"]),
    ("released", &["release"]),
    ("reviewed", &["review"]),
    ("reviewing", &["review"]),
    ("moved", &[]),
    ("checked", &[]),
    ("finished", &[]),
    ("cancelled", &[]),
    ("updated", &[]),
    ("shared", &[]),
];
const EN_TIMES: &[&str] = &[
    "today",
    "tomorrow",
    "at 3pm",
    "this afternoon",
    "next week",
    "after lunch",
    "before Friday",
];
const EN_ADJ: &[&str] = &[
    "ready", "late", "blocked", "done", "fine", "broken", "great",
];

/// One generated message.
pub struct Message {
    /// The room, 0-based.
    pub room: u32,
    /// The author (a member of the room when it has any), 0-based.
    pub author: u32,
    /// The text.
    pub body: String,
    /// Bits of the [`TOPICS`] the text is relevant to.
    pub topics: u64,
}

/// Who is in which room.
pub struct Membership {
    /// For each user, their rooms.
    pub rooms_of: Vec<Vec<u32>>,
    /// For each room, its members.
    pub members: Vec<Vec<u32>>,
}

impl Membership {
    /// `users` users in `rooms_per_user` distinct rooms each, out of `rooms`.
    pub fn generate(seed: u64, users: u32, rooms: u32, rooms_per_user: usize) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_0001);
        let all: Vec<u32> = (0..rooms).collect();
        let mut members = vec![Vec::new(); rooms as usize];
        let rooms_of = (0..users)
            .map(|u| {
                let mine: Vec<u32> = all
                    .choose_multiple(&mut rng, rooms_per_user.min(all.len()))
                    .copied()
                    .collect();
                for r in &mine {
                    members[*r as usize].push(u);
                }
                mine
            })
            .collect();
        Self { rooms_of, members }
    }
}

/// Generates message `i` of the corpus (deterministic per seed and `i`).
pub struct Generator {
    seed: u64,
    membership: Membership,
}

fn has_batchim(word: &str) -> bool {
    word.chars()
        .last()
        .map(|c| c as u32)
        .filter(|c| (0xAC00..=0xD7A3).contains(c))
        .is_some_and(|c| (c - 0xAC00) % 28 != 0)
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

impl Generator {
    /// A generator over a membership.
    pub fn new(seed: u64, membership: Membership) -> Self {
        Self { seed, membership }
    }

    /// The membership the messages are posted into.
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Message number `i`.
    pub fn message(&self, i: u64) -> Message {
        let mut rng = StdRng::seed_from_u64(self.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i);
        let rooms = self.membership.members.len() as u32;
        let room = rng.gen_range(0..rooms.max(1));
        let members = &self.membership.members[room as usize];
        let author = if members.is_empty() {
            rng.gen_range(0..self.membership.rooms_of.len().max(1) as u32)
        } else {
            *pick(&mut rng, members)
        };
        let mut topics = 0;
        let clauses = match rng.gen_range(0..100) {
            0..45 => 1,
            45..80 => 2,
            _ => rng.gen_range(3..=6),
        };
        let kind = rng.gen_range(0..100);
        let mut body = String::new();
        for _ in 0..clauses {
            // A clause's topics count only if the clause fits in the message.
            let mut clause_topics = 0;
            let clause = match kind {
                0..60 => korean(&mut rng, &mut clause_topics),
                60..85 => english(&mut rng, &mut clause_topics),
                _ => mixed(&mut rng, &mut clause_topics),
            };
            if body.chars().count() + clause.chars().count() + 1 > 200 {
                break;
            }
            if !body.is_empty() {
                body.push(' ');
            }
            body.push_str(&clause);
            topics |= clause_topics;
        }
        if body.chars().count() < 5 {
            body = (*pick(&mut rng, KO_FILLERS)).to_owned();
        }
        Message {
            room,
            author,
            body,
            topics,
        }
    }
}

/// A Korean noun, with a particle three times out of four.
fn ko_noun(rng: &mut StdRng, topics: &mut u64) -> String {
    let (word, bits) = pick(rng, KO_NOUNS);
    for b in *bits {
        *topics |= topic_bit(b);
    }
    if rng.gen_bool(0.25) {
        return (*word).to_owned();
    }
    let particles = if has_batchim(word) {
        WITH_BATCHIM
    } else {
        WITHOUT_BATCHIM
    };
    format!("{word}{}", pick(rng, particles))
}

fn korean(rng: &mut StdRng, topics: &mut u64) -> String {
    if rng.gen_ratio(1, 6) {
        return (*pick(rng, KO_FILLERS)).to_owned();
    }
    let n1 = ko_noun(rng, topics);
    let v = pick(rng, KO_PREDICATES);
    match rng.gen_range(0..5) {
        0 => format!("{} {n1} {v}", pick(rng, KO_TIMES)),
        1 => format!("{n1} {} {v}", ko_noun(rng, topics)),
        2 => format!("{n1} {} {v}", pick(rng, KO_ADVERBS)),
        3 => format!("{} {n1} {} {v}", pick(rng, KO_TIMES), ko_noun(rng, topics)),
        _ => format!("{n1} {v}"),
    }
}

fn en_noun(rng: &mut StdRng, topics: &mut u64) -> &'static str {
    let (forms, bits) = pick(rng, EN_NOUNS);
    for b in *bits {
        *topics |= topic_bit(b);
    }
    forms[rng.gen_range(0..forms.len())]
}

fn english(rng: &mut StdRng, topics: &mut u64) -> String {
    let n = en_noun(rng, topics);
    match rng.gen_range(0..6) {
        0 => format!("can we move the {n} {}?", pick(rng, EN_TIMES)),
        1 => format!("the {n} is {}", pick(rng, EN_ADJ)),
        2 => {
            let (verb, bits) = pick(rng, EN_VERBS);
            for b in *bits {
                *topics |= topic_bit(b);
            }
            format!("{verb} the {n} {}", pick(rng, EN_TIMES))
        }
        3 => format!("please check the {n} before the {}", en_noun(rng, topics)),
        4 => format!("lgtm, {n} looks good"),
        _ => format!("new {n} {}", pick(rng, EN_TIMES)),
    }
}

fn mixed(rng: &mut StdRng, topics: &mut u64) -> String {
    let n = en_noun(rng, topics);
    let v = pick(rng, KO_PREDICATES);
    match rng.gen_range(0..3) {
        0 => format!("{n} {} {v}", ko_noun(rng, topics)),
        1 => format!("{} {n} {v}", ko_noun(rng, topics)),
        _ => format!("{n} 끝나면 알려주세요"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_deterministic_and_tagged() {
        let g = Generator::new(7, Membership::generate(7, 100, 100, 50));
        for i in 0..2000 {
            let (a, b) = (g.message(i), g.message(i));
            assert_eq!(a.body, b.body);
            let len = a.body.chars().count();
            assert!((5..=200).contains(&len), "{len}: {}", a.body);
            for (bit, (word, korean)) in TOPICS.iter().enumerate() {
                if *korean {
                    // A Korean topic bit is set exactly when the word is in the text.
                    assert_eq!(
                        a.body.contains(word),
                        a.topics & (1 << bit) != 0,
                        "{word}: {}",
                        a.body
                    );
                }
            }
        }
        assert!(has_batchim("일정") && !has_batchim("회의") && has_batchim("점심"));
    }
}
