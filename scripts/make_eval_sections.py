#!/usr/bin/env python3
"""Writes tests/fixtures/eval-sections: an evaluation set where the section matters.

Eight documents of the kind people keep (appliance manuals, a router guide, a staff handbook, a
lease) that share section names ("Cleaning", "Warranty", "Troubleshooting"...), written the way
manuals are: a section's text rarely repeats the product's name or its own heading. Each query
names what it is about the way a person would ("descale the espresso machine") and is judged at
the section level: `{"qid", "doc_id", "section"}` where `section` is the heading path joined by
" › " (a hit counts when its heading path is the judged one or below it). So a retriever is
rewarded for finding the right section of the right document, not any passage of it.

The corpus lines carry `structure.headings` (UTF-16 offsets), as `localrag/loaders` gives them.
Run: python3 scripts/make_eval_sections.py (writes corpus.jsonl, queries.jsonl, qrels.jsonl).
"""

import json
import os

DOCS = {
    "espresso": ("Aurora Espresso Machine: Owner's Manual", [
        (1, "Before first use", "Rinse the water tank, fill it to the MAX line and run two tanks of water through the "
            "group head and the steam wand without coffee. Set the grind to medium-fine; the pump reaches nine bar "
            "within thirty seconds of the ready light."),
        (1, "Daily cleaning", "After the last shot of the day, knock out the puck, flush the group head for five "
            "seconds and wipe the shower screen. Purge the steam wand and wipe milk off it at once, before it dries. "
            "Empty and rinse the drip tray; the red float rises when it is full."),
        (1, "Descaling", "Every two months, or when the orange light blinks, dissolve one sachet of citric acid in a "
            "full tank. Hold the rinse button for five seconds to start the cycle, which alternates the group head "
            "and the wand for twenty minutes. Rinse the tank and run one tank of clean water afterwards."),
        (1, "Troubleshooting", "If the pump is loud and nothing comes out, the tank is empty or not seated: press it "
            "down until it clicks. Coffee that runs too fast and tastes sour means the grind is too coarse. Water "
            "around the base usually means the drip tray is overfull."),
        (1, "Warranty", "We cover defects in materials and workmanship for two years from purchase. Scale damage is "
            "not covered when the machine was never descaled. Keep the receipt; repairs are made at an authorised "
            "service centre."),
    ]),
    "kettle": ("Tempo Electric Kettle: Instructions", [
        (1, "Before first use", "Boil a full jug of water twice and pour it away. Place the jug on the base until "
            "it sits flat; the light shows it is powered."),
        (1, "Cleaning", "Unplug and let it cool. Wipe the outside with a damp cloth; never put the jug in water or "
            "in a dishwasher. The mesh filter lifts out of the spout and can be rinsed under the tap."),
        (1, "Descaling", "When white deposits form inside, fill to the halfway mark with equal parts water and "
            "white vinegar, leave it for an hour without boiling, then boil fresh water twice and discard it."),
        (1, "Troubleshooting", "If it switches off before boiling, scale on the element is tripping the sensor: "
            "remove it as above. If it does not switch on, the lid may be open; it only heats with the lid shut."),
        (1, "Warranty", "One year from purchase against manufacturing faults. The guarantee is void if the jug was "
            "immersed or used on another base."),
    ]),
    "purifier": ("Breeze 300 Air Purifier: User Guide", [
        (1, "Before first use", "Take the filter out of its plastic bag and put it back with the pull tab facing "
            "you. Place the unit at least thirty centimetres from walls and curtains so air can reach the sides."),
        (1, "Cleaning", "Vacuum the pre-filter mesh every two weeks with a brush attachment. The housing can be "
            "wiped with a dry cloth; liquids and sprays damage the particle sensor behind the grille."),
        (1, "Replacing the filter", "The HEPA and carbon cartridge lasts about twelve months. When the filter "
            "light turns red, fit a new cartridge, then hold the timer button for three seconds to reset the "
            "count."),
        (1, "Troubleshooting", "A rattling sound usually means the cartridge is not seated. If the air quality ring "
            "stays red in clean air, dust the sensor opening with a cotton bud. A burning smell from a new carbon "
            "layer fades within days."),
        (1, "Warranty", "Two years on the motor and electronics; cartridges are consumables and are not covered."),
    ]),
    "ebike": ("Nimbus City E-Bike: Rider's Handbook", [
        (1, "Before the first ride", "Check the tyre pressure against the range printed on the sidewall, fit the "
            "pedals (the left one has a reverse thread) and tighten the stem to five newton metres."),
        (1, "Charging the battery", "Charge only with the supplied charger, indoors, between ten and thirty degrees. "
            "A full charge from empty takes about five hours; the LEDs on the pack stop blinking when it is done. "
            "For winter storage keep it at about sixty percent and top it up every three months."),
        (1, "Cleaning", "Rinse with low-pressure water and a sponge; pressure washers force water into the motor "
            "bearings and the display connector. Dry the chain and oil it lightly after washing."),
        (1, "Troubleshooting", "If the assistance cuts out on hills, the pack may be too cold or nearly empty. An "
            "error code E07 on the display means the speed sensor magnet on the rear spoke has moved: align it "
            "with the sensor."),
        (1, "Warranty", "The frame is guaranteed for five years, the motor and the battery pack for two. Wear parts "
            "such as tyres, brake pads and the chain are excluded."),
    ]),
    "vacuum": ("Orbit Robot Vacuum: Manual", [
        (1, "Before first use", "Remove the foam blocks from the bumper, fit the side brushes and place the dock "
            "against a wall with half a metre clear on each side. Let it charge fully before the first run."),
        (1, "Cleaning", "Empty the bin after every run. Once a week, pull hair off the main brush with the cutting "
            "tool clipped under the lid, and wipe the cliff sensors underneath with a dry cloth."),
        (1, "Maps and rooms", "After the first full run the app shows a floor plan. Draw no-go lines across doorways "
            "you want skipped and split or merge rooms to schedule them separately."),
        (1, "Troubleshooting", "If it keeps circling, a wheel is tangled or a cliff sensor is dirty. If it cannot "
            "find the dock, move the dock out of direct sunlight and away from mirrors."),
        (1, "Warranty", "Two years on the robot, six months on the battery."),
    ]),
    "router": ("Linkwave AX1800 Router: Setup Guide", [
        (1, "Installation", "Connect the modem to the blue WAN port and power the router on. The setup assistant "
            "runs on a computer connected by cable or to the network printed on the label."),
        (2, "Windows", "Double-click the setup program from the included USB stick and allow it through the "
            "firewall prompt. It finds the router by itself and asks for the admin password printed on the label."),
        (2, "macOS", "Open the disk image, drag the assistant to Applications and open it with a right-click the "
            "first time, since Gatekeeper blocks apps from outside the App Store."),
        (2, "Linux", "There is no installer: open a terminal and browse to 192.168.8.1, or run the setup script "
            "with sudo sh setup.sh from the stick if your distribution has no graphical browser."),
        (1, "Wi-Fi settings", "The two bands share one name by default. Give the 5 GHz band its own name to choose "
            "it by hand; WPA3 can be turned on under Security once every device supports it."),
        (1, "Firmware update", "The router checks for new firmware every night at three. To update by hand, "
            "download the file, open Advanced, Maintenance and upload it; never unplug it while the light blinks "
            "purple."),
        (1, "Troubleshooting", "A red internet light means no connection from the modem: restart the modem first, "
            "then the router. Hold the recessed button for ten seconds to restore factory settings."),
    ]),
    "handbook": ("Staff Handbook", [
        (1, "Holidays", "Full-time staff get twenty-six days a year plus public holidays. Ask your manager at least "
            "two weeks ahead; up to five unused days carry over to the next year."),
        (1, "Sick leave", "Tell your manager before ten on the first morning. From the fourth day a doctor's note is "
            "needed. Sick days during a holiday are given back with a note."),
        (1, "Travel expenses", "Book trains in standard class and hotels under the city limit on the intranet. "
            "Submit receipts within thirty days; meals are paid at a flat daily rate, not by receipt."),
        (1, "Working from home", "You may work from home up to three days a week after your probation. The company "
            "lends a monitor and a chair; the internet connection is yours."),
        (1, "Leaving", "The notice period is one month in the first year and three months after. Return the laptop "
            "and badge on the last day; the final salary includes untaken holiday."),
    ]),
    "lease": ("Residential Tenancy Agreement, Flat 4B", [
        (1, "Rent", "The rent is 1,150 euros a month, due on the first working day by bank transfer. Late payment "
            "after the tenth costs a fixed fee of 25 euros."),
        (1, "Deposit", "Two months' rent is held in a protected account and returned within thirty days of the "
            "keys, less the cost of damage beyond normal wear."),
        (1, "Pets", "Cats and small caged animals are allowed. Dogs need written consent from the landlord, which "
            "is not unreasonably refused."),
        (1, "Repairs", "The landlord repairs the structure, heating and plumbing; the tenant replaces light bulbs "
            "and smoke alarm batteries and reports leaks within two days."),
        (1, "Ending the agreement", "Either party may end the agreement with three months' notice in writing after "
            "the first year. Keys are returned at a check-out inspection."),
    ]),
}

# (query, doc, section): written as a person asks, not copied from the text.
QUERIES = [
    ("how do I descale the espresso machine", "espresso", "Descaling"),
    ("coffee machine warranty length", "espresso", "Warranty"),
    ("espresso maker pump noisy but no coffee", "espresso", "Troubleshooting"),
    ("cleaning the espresso machine every day", "espresso", "Daily cleaning"),
    ("first use of the coffee machine", "espresso", "Before first use"),
    ("how do I descale my kettle", "kettle", "Descaling"),
    ("kettle turns itself off before the water boils", "kettle", "Troubleshooting"),
    ("kettle guarantee", "kettle", "Warranty"),
    ("can the kettle go in the dishwasher", "kettle", "Cleaning"),
    ("air purifier filter replacement", "purifier", "Replacing the filter"),
    ("air purifier makes a rattling noise", "purifier", "Troubleshooting"),
    ("how do I clean the air purifier", "purifier", "Cleaning"),
    ("where should I put the purifier in the room", "purifier", "Before first use"),
    ("what does the purifier warranty cover", "purifier", "Warranty"),
    ("how long does the e-bike battery take to charge", "ebike", "Charging the battery"),
    ("storing the bike battery over winter", "ebike", "Charging the battery"),
    ("can I wash my e-bike with a pressure washer", "ebike", "Cleaning"),
    ("e-bike warranty on the frame", "ebike", "Warranty"),
    ("bike display shows E07", "ebike", "Troubleshooting"),
    ("assembling the bike pedals before riding", "ebike", "Before the first ride"),
    ("robot vacuum keeps spinning in circles", "vacuum", "Troubleshooting"),
    ("how do I clean the robot vacuum brush", "vacuum", "Cleaning"),
    ("robot vacuum battery warranty", "vacuum", "Warranty"),
    ("stop the robot going into a room", "vacuum", "Maps and rooms"),
    ("set up the router on Linux", "router", "Installation › Linux"),
    ("install the router assistant on a Mac", "router", "Installation › macOS"),
    ("router setup on Windows", "router", "Installation › Windows"),
    ("update the router firmware", "router", "Firmware update"),
    ("separate 5 GHz wifi network name", "router", "Wi-Fi settings"),
    ("factory reset the router", "router", "Troubleshooting"),
    ("how many vacation days do employees get", "handbook", "Holidays"),
    ("do I need a doctor's note when I am ill", "handbook", "Sick leave"),
    ("claiming hotel and train costs for a work trip", "handbook", "Travel expenses"),
    ("how many days can staff work remotely", "handbook", "Working from home"),
    ("notice period when I resign", "handbook", "Leaving"),
    ("notice period to move out of the flat", "lease", "Ending the agreement"),
    ("when is the rent due", "lease", "Rent"),
    ("can I keep a dog in the flat", "lease", "Pets"),
    ("when do I get my deposit back", "lease", "Deposit"),
    ("who fixes the heating in the apartment", "lease", "Repairs"),
]


def utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def document(doc_id, title, sections):
    text, headings, path = "", [], []
    for level, heading, body in sections:
        if text:
            text += "\n\n"
        start = utf16_len(text)
        text += heading
        headings.append({"level": level, "start": start, "end": utf16_len(text)})
        text += "\n\n" + body
    return {"id": doc_id, "title": title, "text": text, "structure": {"headings": headings}}


def main():
    out = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "eval-sections")
    os.makedirs(out, exist_ok=True)
    sections = {(d, h) for d, (_, ss) in DOCS.items() for _, h, _ in ss}
    with open(os.path.join(out, "corpus.jsonl"), "w") as f:
        for doc_id, (title, ss) in DOCS.items():
            f.write(json.dumps(document(doc_id, title, ss), ensure_ascii=False) + "\n")
    with open(os.path.join(out, "queries.jsonl"), "w") as q, open(os.path.join(out, "qrels.jsonl"), "w") as r:
        for i, (text, doc, section) in enumerate(QUERIES, 1):
            assert (doc, section.split(" › ")[-1]) in sections, (doc, section)
            qid = f"s{i:02d}"
            q.write(json.dumps({"qid": qid, "text": text}) + "\n")
            r.write(json.dumps({"qid": qid, "doc_id": doc, "section": section}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
